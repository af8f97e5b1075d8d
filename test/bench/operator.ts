// `make bench-operator`: the operator at scale against a real apiserver.
//
// For each size: a fresh control plane with 500 namespaces, 200 partitions
// (one tenant label each), 1,000 KsmNode reports and N pods; then the real
// operator process starts. Printed per size: seconds from start to every
// partition converged (and from its caches being listed), CPU seconds and
// peak RSS of the operator, and seconds to re-converge after one namespace
// moves to another tenant.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { argv, stdout } from 'node:process';
import { loadConnection, Rest } from '@selective-ksm/kube';
import {
  adminConfig,
  ControlPlane,
  freePort,
  installCrds,
  OwnedProcess,
} from '../controlplane/index.ts';

const NAMESPACES = 500;
const PARTITIONS = 200;
const NODES = 1000;
const REPORTS_PER_NODE = 5;
const say = (line: string) => stdout.write(`${line}\n`);

/**
 * How the chart runs the operator. A small young generation makes V8
 * collect short-lived list and watch payloads early: the same CPU, and
 * peak RSS at 20,000 pods falls from about 330 to about 200 MiB.
 */
const OPERATOR_NODE_FLAGS = ['--max-semi-space-size=4'];

async function inBatches<T>(items: T[], concurrency: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

const tenantOf = (ns: number) => `t${ns % PARTITIONS}`;

interface Sample {
  pods: number;
  startToConverged: number;
  syncedToConverged: number;
  cpuSeconds: number;
  peakRssMiB: number;
  reconverge: number;
}

async function processStats(pid: number): Promise<{ cpuSeconds: number; peakRssMiB: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, peakRssMiB: hwm / 1024 };
}

async function populate(rest: Rest, pods: number): Promise<Map<string, number>> {
  const expected = new Map<string, number>();
  await inBatches(
    Array.from({ length: NAMESPACES }, (_v, i) => i),
    16,
    (i) =>
      rest.create('/api/v1/namespaces', {
        metadata: { name: `ns-${i}`, labels: { tenant: tenantOf(i) } },
      }),
  );
  await inBatches(
    Array.from({ length: PARTITIONS }, (_v, i) => i),
    16,
    (i) =>
      rest.create('/apis/selectiveksm.io/v1alpha1/ksmpartitions', {
        apiVersion: 'selectiveksm.io/v1alpha1',
        kind: 'KsmPartition',
        metadata: { name: `t${i}` },
        spec: { namespaceSelector: { matchLabels: { tenant: `t${i}` } } },
      }),
  );
  let made = 0;
  await inBatches(
    Array.from({ length: pods }, (_v, i) => i),
    32,
    async (i) => {
      const ns = i % NAMESPACES;
      await rest.create(`/api/v1/namespaces/ns-${ns}/pods`, {
        metadata: { name: `pod-${i}`, labels: { app: `a${i % 10}` } },
        spec: {
          nodeName: `node-${i % NODES}`,
          containers: [{ name: 'app', image: 'registry.invalid/app' }],
        },
      });
      expected.set(tenantOf(ns), (expected.get(tenantOf(ns)) ?? 0) + 1);
      if (++made % 5000 === 0) say(`  ${made} pods`);
    },
  );
  const now = new Date().toISOString();
  await inBatches(
    Array.from({ length: NODES }, (_v, i) => i),
    16,
    async (i) => {
      const path = `/apis/selectiveksm.io/v1alpha1/ksmnodes/node-${i}`;
      await rest.create('/apis/selectiveksm.io/v1alpha1/ksmnodes', {
        apiVersion: 'selectiveksm.io/v1alpha1',
        kind: 'KsmNode',
        metadata: { name: `node-${i}` },
      });
      const partitions = Array.from({ length: REPORTS_PER_NODE }, (_v, r) => ({
        name: `t${(i + r * 41) % PARTITIONS}`,
        pods: 2,
        processes: 4,
        pagesShared: 100,
        pagesSharing: 400,
        savedBytes: 400 * 4096,
      }));
      await rest.patch(`${path}/status`, 'merge', {
        status: { heartbeatTime: now, kernel: { selectiveKsm: true, release: '6.12' }, partitions },
      });
    },
  );
  return expected;
}

async function converged(rest: Rest, expected: Map<string, number>): Promise<boolean> {
  const list = await rest.get<{
    items: {
      metadata: { name: string; generation: number };
      status?: { observedGeneration?: number; matchedPods?: number };
    }[];
  }>('/apis/selectiveksm.io/v1alpha1/ksmpartitions');
  return list.items.every(
    (p) =>
      p.status?.observedGeneration === p.metadata.generation &&
      p.status.matchedPods === (expected.get(p.metadata.name) ?? 0),
  );
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await check()) return (Date.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not converged after ${timeoutMs / 1000} s`);
}

async function measure(pods: number): Promise<Sample> {
  say(`\n${pods} pods, ${NAMESPACES} namespaces, ${PARTITIONS} partitions, ${NODES} KsmNodes`);
  const plane = await ControlPlane.start();
  try {
    const kc = adminConfig(plane.info);
    await installCrds(kc);
    const rest = new Rest(loadConnection(plane.info.kubeconfig), 'bench');
    const t = Date.now();
    const expected = await populate(rest, pods);
    say(`  objects created in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    const port = await freePort();
    const logFile = join(plane.info.dir, 'operator.log');
    const started = Date.now();
    const op = new OwnedProcess(
      'operator',
      process.execPath,
      [
        ...OPERATOR_NODE_FLAGS,
        // The compiled operator (make build), as it runs in production.
        join(import.meta.dirname, '..', '..', 'dist', 'operator', 'src', 'main.js'),
        `--kubeconfig=${plane.info.kubeconfig}`,
        `--metrics-address=127.0.0.1:${port}`,
        '--leader-election-namespace=default',
      ],
      logFile,
    );
    const startToConverged = await until(() => converged(rest, expected), 300_000);
    const stats = await processStats(op.pid ?? 0);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? 0) / 2 ** 20;
    say(`  heap in use after converging: ${heap.toFixed(0)} MiB`);
    const logLines = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
    const synced = logLines
      .map((l) => JSON.parse(l) as { time: string; msg: string })
      .find((l) => l.msg === 'caches synced; reconciling');
    const syncedAt = synced ? Date.parse(synced.time) : started;
    const syncedToConverged = (started + startToConverged * 1000 - syncedAt) / 1000;

    // Move ns-0 from its tenant to the next one: two partitions change.
    const from = tenantOf(0);
    const to = tenantOf(1);
    const moved = Math.ceil(pods / NAMESPACES);
    expected.set(from, (expected.get(from) ?? 0) - moved);
    expected.set(to, (expected.get(to) ?? 0) + moved);
    await rest.patch('/api/v1/namespaces/ns-0', 'merge', { metadata: { labels: { tenant: to } } });
    const reconverge = await until(() => converged(rest, expected), 60_000);
    await op.stop();
    rest.close();
    return { pods, startToConverged, syncedToConverged, reconverge, ...stats };
  } finally {
    await plane.stop();
  }
}

const sizes = (argv[2] ?? '5000,10000,20000').split(',').map(Number);
const samples: Sample[] = [];
say(`operator runs as: node ${OPERATOR_NODE_FLAGS.join(' ')} dist/operator/src/main.js`);
for (const n of sizes) samples.push(await measure(n));
say(
  '\n| pods | start → converged (s) | caches listed → converged (s) | CPU (s) | peak RSS (MiB) | re-converge after a namespace relabel (s) |',
);
say('| ---: | ---: | ---: | ---: | ---: | ---: |');
for (const s of samples) {
  say(
    `| ${s.pods} | ${s.startToConverged.toFixed(2)} | ${s.syncedToConverged.toFixed(2)} | ${s.cpuSeconds.toFixed(2)} | ${s.peakRssMiB.toFixed(0)} | ${s.reconverge.toFixed(2)} |`,
  );
}
