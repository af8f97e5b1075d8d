// `make bench-agent`: the CPU and memory of one full agent pass on a busy
// node: 500 pods, 1,000 containers, 2,000 processes with maps like those of
// real programs (a runtime and ~40 shared libraries, thread stacks, arenas),
// on a fixture /proc and /sys laid out as kubelet and the kernel do. A pass
// = find every container's cgroup and processes, read each process's
// partition binding, decide, and compute the ranges to merge of every
// process that is due. Kernel calls are not part of it.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argv, stdout } from 'node:process';
import { PartitionSpec } from '@selective-ksm/crds';
import type { PartitionInfo, PodState } from '../../node-agent/src/schedule.ts';
import { type FixturePod, writeHost } from '../fixtures/host.ts';

const PODS = Number(argv[2] ?? 500);
const NAMESPACES = 50;
const say = (line: string) => stdout.write(`${line}\n`);

/** A maps text like a language runtime's: ~40 libraries, 8 arenas of 8 MiB with guard pages. */
function busyMaps(seed: number): string {
  const lines: string[] = [];
  const hex = (n: bigint) => n.toString(16).padStart(12, '0');
  let a = 0x555555554000n;
  for (const perms of ['r--p', 'r-xp', 'r--p', 'rw-p']) {
    lines.push(`${hex(a)}-${hex(a + 0x10000n)} ${perms} 00000000 fe:01 1311 /usr/local/bin/node`);
    a += 0x10000n;
  }
  lines.push(
    `${hex(a)}-${hex(a + 0x400000n)} rw-p 00000000 00:00 0                          [heap]`,
  );
  a = 0x7f0000000000n + BigInt(seed % 64) * 0x1000000n;
  for (let i = 0; i < 8; i++) {
    lines.push(`${hex(a)}-${hex(a + 0x800000n)} rw-p 00000000 00:00 0 `);
    a += 0x800000n;
    lines.push(`${hex(a)}-${hex(a + 0x1000n)} ---p 00000000 00:00 0 `);
    a += 0x1000n;
  }
  for (let lib = 0; lib < 40; lib++) {
    for (const perms of ['r--p', 'r-xp', 'r--p', 'rw-p']) {
      lines.push(
        `${hex(a)}-${hex(a + 0x8000n)} ${perms} 00000000 fe:01 ${2000 + lib} /usr/lib/x86_64-linux-gnu/lib${lib}.so.1`,
      );
      a += 0x8000n;
    }
  }
  lines.push('7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0                          [vvar]');
  lines.push('7ffff7fc5000-7ffff7fc7000 r-xp 00000000 00:00 0                          [vdso]');
  lines.push('7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]');
  return `${lines.join('\n')}\n`;
}

const spec = PartitionSpec.parse({ podSelector: {}, merge: { interval: '10m' } });

const root = await mkdtemp(join(tmpdir(), 'sksm-bench-agent-'));
try {
  const fixture: FixturePod[] = [];
  const pods: PodState[] = [];
  let pid = 1000;
  for (let p = 0; p < PODS; p++) {
    const uid = `00000000-0000-4000-8000-${String(p).padStart(12, '0')}`;
    const containers = ['app', 'sidecar'].map((name, c) => ({
      name,
      ref: {
        runtime: 'containerd' as const,
        id: `${p.toString(16).padStart(8, '0')}${c}`.padEnd(64, 'a'),
      },
    }));
    fixture.push({
      uid,
      qos: p % 3 === 0 ? 'Guaranteed' : p % 3 === 1 ? 'Burstable' : 'BestEffort',
      containers: containers.map((c) => ({
        ref: c.ref,
        processes: [0, 1].map(() => ({ pid: pid++, maps: busyMaps(pid) })),
      })),
    });
    pods.push({
      uid,
      namespace: `ns-${p % NAMESPACES}`,
      name: `pod-${p}`,
      labels: {},
      hostPID: false,
      containers: containers.map((c) => ({
        key: `${uid}/${c.name}`,
        name: c.name,
        ref: c.ref,
        startedAt: 0,
      })),
    });
  }
  say(`writing a fixture host: ${PODS} pods, ${PODS * 2} containers, ${pid - 1000} processes`);
  await writeHost(root, {
    driver: 'systemd',
    cgroupView: 'namespaced',
    pods: fixture,
    partitions: {},
  });

  const partitions: PartitionInfo[] = Array.from({ length: NAMESPACES }, (_v, i) => ({
    name: `p${i}`,
    spec: {
      ...spec,
      podSelector: undefined,
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': `ns-${i}` } },
    },
    deleting: false,
  }));
  const namespaces = new Map(
    partitions.map((_p, i) => [`ns-${i}`, { 'kubernetes.io/metadata.name': `ns-${i}` }]),
  );
  // The passes run in a child process on the compiled agent (make build),
  // so that the figures are the agent's own, as it runs in production.
  const state = join(root, 'state.json');
  await writeFile(
    state,
    JSON.stringify({ pods, partitions, namespaces: [...namespaces], memory: spec.memory }),
  );
  const child = spawnSync(
    process.execPath,
    [join(import.meta.dirname, 'agent-pass.js'), root, state],
    {
      encoding: 'utf8',
    },
  );
  if (child.status !== 0) throw new Error(`agent-pass.js failed: ${child.stderr}`);
  const r = JSON.parse(child.stdout) as {
    tasks: number;
    calls: number;
    samples: { cpuMs: number; wallMs: number }[];
    maxRssMiB: number;
  };
  const steady = r.samples
    .slice(1)
    .map((x) => x.cpuMs)
    .sort((x, y) => x - y);
  say(`a pass plans ${r.tasks} container merges, ${r.calls} kernel calls`);
  say('');
  say('| pass | CPU (ms) | wall (ms) |');
  say('| ---: | ---: | ---: |');
  for (const [i, x] of r.samples.entries()) {
    say(`| ${i === 0 ? '1 (cold)' : i + 1} | ${x.cpuMs.toFixed(0)} | ${x.wallMs.toFixed(0)} |`);
  }
  say('');
  say(
    `median warm pass: ${steady[Math.floor(steady.length / 2)]?.toFixed(0)} ms CPU; peak RSS of the agent process: ${r.maxRssMiB.toFixed(0)} MiB`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
