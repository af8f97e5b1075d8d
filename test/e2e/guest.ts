// Runs inside the VM, as root, as the node's "kubelet and container
// runtime": it lays out cgroups as kubelet does with the systemd driver and
// containerd, starts each container's workload in its cgroup, runs the node
// agent as its DaemonSet pod would, and then carries out the test's
// commands, which it reads from a ConfigMap through the real apiserver (the
// only way in or out of the VM besides the console).
//
//   node test/e2e/guest.ts RUN_DIR
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { argv, exit, stdout } from 'node:process';
import { createInterface } from 'node:readline';
import { KubeError, loadConnection, Rest, sleep } from '@selective-ksm/kube';
import { kubeletCgroupPath } from '../../node-agent/src/cgroup.ts';
import { anonymousFrames, crossPartitionFrames, type Frame } from './pagemap.ts';

export interface GuestPlan {
  node: string;
  /** The node binary, the repository, the compiled agent. */
  nodeBin: string;
  repo: string;
  guestImageBin: string;
  imageFile: string;
  agentKubeconfig: string;
  adminKubeconfig: string;
  containers: {
    key: string;
    podUid: string;
    qos: 'Guaranteed' | 'Burstable' | 'BestEffort';
    containerId: string;
    workload: { kind: 'guest-image'; uniqueMiB: number } | { kind: 'service'; port: number };
  }[];
}

export interface Command {
  seq: number;
  name: 'status' | 'isolation' | 'memory' | 'kill-agent' | 'start-agent' | 'shutdown';
  /** For isolation: container key → partition it belongs to now. */
  partitions?: Record<string, string>;
}

const say = (line: string) => stdout.write(`[guest] ${line}\n`);
const runDir = argv[2] ?? '';
const plan = JSON.parse(await readFile(join(runDir, 'plan.json'), 'utf8')) as GuestPlan;

async function network(): Promise<void> {
  const ifaces = (await readdir('/sys/class/net')).filter((i) => i !== 'lo');
  const eth = ifaces[0];
  if (!eth) throw new Error('no network interface: boot the VM with SKSM_VM_NET=user');
  const ip = (args: string) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn('ip', args.split(' '), { stdio: 'inherit' });
      p.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`ip ${args}: exit ${code}`)),
      );
    });
  await ip('link set lo up');
  await ip(`link set ${eth} up`);
  await ip(`addr add 10.0.2.15/24 dev ${eth}`);
  await ip('route add default via 10.0.2.2');
}

interface Running {
  key: string;
  pid: number;
  child: ChildProcess;
  /** The guest-image's anonymous range, if it is one. */
  range?: { start: bigint; end: bigint };
}

const containers: Running[] = [];

async function startContainer(c: GuestPlan['containers'][number]): Promise<Running> {
  const cgroup = join(
    '/sys/fs/cgroup',
    kubeletCgroupPath({
      driver: 'systemd',
      qos: c.qos,
      podUid: c.podUid,
      container: { runtime: 'containerd', id: c.containerId },
    }),
  );
  await mkdir(cgroup, { recursive: true });
  const command =
    c.workload.kind === 'guest-image'
      ? [plan.guestImageBin, String(c.workload.uniqueMiB), plan.imageFile]
      : [plan.nodeBin, join(plan.repo, 'test/e2e/workloads/service.js'), String(c.workload.port)];
  // Join the cgroup first, then become the workload: as runc does.
  const child = spawn(
    'sh',
    ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec "$@"`, 'sh', ...command],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${c.key} exited with ${code}`)));
  });
  const [, pid, a, b] = line.split(' ');
  const running: Running = { key: c.key, pid: Number(pid), child };
  if (c.workload.kind === 'guest-image')
    running.range = { start: BigInt(`0x${a}`), end: BigInt(`0x${b}`) };
  say(`${c.key}: pid ${pid} in ${cgroup}`);
  return running;
}

let agent: ChildProcess | undefined;

function startAgent(): void {
  agent = spawn(
    plan.nodeBin,
    [
      '--max-semi-space-size=4',
      join(plan.repo, 'dist/node-agent/src/main.js'),
      `--node-name=${plan.node}`,
      '--host-root=/',
      `--kubeconfig=${plan.agentKubeconfig}`,
      '--metrics-address=0.0.0.0:8081',
      '--resync-seconds=2',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const started = agent;
  started.on('exit', (code, signal) => say(`agent ${started.pid} exited (${code ?? signal})`));
  say(`agent started, pid ${agent.pid}`);
}

/** /proc/kpageflags bits: KSM page, the shared zero page. */
async function pageFlags(pfns: readonly bigint[]): Promise<Map<bigint, bigint>> {
  const out = new Map<bigint, bigint>();
  const fh = await open('/proc/kpageflags', 'r');
  try {
    const buf = Buffer.alloc(8);
    for (const pfn of new Set(pfns)) {
      await fh.read(buf, 0, 8, Number(pfn * 8n));
      out.set(pfn, buf.readBigUInt64LE(0));
    }
  } finally {
    await fh.close();
  }
  return out;
}

const KPF_KSM = 1n << 21n;
const KPF_ZERO_PAGE = 1n << 24n;

/** Private anonymous mappings of a process, from its maps. */
async function anonymousRanges(pid: number): Promise<{ start: bigint; end: bigint }[]> {
  const text = await readFile(`/proc/${pid}/maps`, 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(/\s+/))
    .filter(
      (f) =>
        f[1]?.[3] === 'p' &&
        f[1]?.[0] === 'r' &&
        (f[5] === undefined || f[5] === '' || f[5] === '[heap]' || f[5] === '[stack]'),
    )
    .map((f) => {
      const [s, e] = (f[0] ?? '0-0').split('-');
      return { start: BigInt(`0x${s}`), end: BigInt(`0x${e}`) };
    });
}

async function isolation(partitionOf: Record<string, string>) {
  const all: { owner: { pid: number; partition: string }; frames: Frame[] }[] = [];
  for (const c of containers) {
    const frames: Frame[] = [];
    for (const r of await anonymousRanges(c.pid))
      frames.push(...(await anonymousFrames(c.pid, r.start, r.end)));
    all.push({ owner: { pid: c.pid, partition: partitionOf[c.key] ?? `none:${c.key}` }, frames });
  }
  const flags = await pageFlags(all.flatMap((x) => x.frames.map((f) => f.pfn)));
  const zero = new Set(
    [...flags].filter(([, f]) => (f & KPF_ZERO_PAGE) !== 0n).map(([pfn]) => pfn),
  );
  const shared = crossPartitionFrames(all, zero);
  const ksmFrames: Record<string, number> = {};
  for (const { owner, frames } of all) {
    const ksm = new Set(
      frames.filter((f) => ((flags.get(f.pfn) ?? 0n) & KPF_KSM) !== 0n).map((f) => f.pfn),
    );
    ksmFrames[owner.partition] = (ksmFrames[owner.partition] ?? 0) + ksm.size;
  }
  const frames = all.reduce((n, x) => n + x.frames.length, 0);
  return {
    processes: all.length,
    frames,
    crossPartition: shared
      .slice(0, 20)
      .map((s) => ({ pfn: String(s.pfn), partitions: s.partitions })),
    crossPartitionCount: shared.length,
    ksmFrames,
  };
}

async function memory() {
  const text = await readFile('/proc/meminfo', 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return {
    memFreeKiB: kib('MemFree'),
    memAvailableKiB: kib('MemAvailable'),
    anonPagesKiB: kib('AnonPages'),
  };
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.name) {
    case 'status':
      return {
        containers: containers.map((c) => ({ key: c.key, pid: c.pid })),
        agent: agent?.exitCode === null,
      };
    case 'isolation':
      return isolation(cmd.partitions ?? {});
    case 'memory':
      return memory();
    case 'kill-agent':
      agent?.kill('SIGKILL');
      return { killed: agent?.pid };
    case 'start-agent':
      startAgent();
      return { started: agent?.pid };
    case 'shutdown':
      agent?.kill('SIGTERM');
      for (const c of containers) c.child.kill('SIGTERM');
      await sleep(1000);
      return { stopped: true };
  }
}

async function main(): Promise<void> {
  await network();
  for (const c of plan.containers) containers.push(await startContainer(c));
  startAgent();
  const rest = new Rest(loadConnection(plan.adminKubeconfig), 'e2e-guest');
  const path = '/api/v1/namespaces/default/configmaps';
  await rest
    .create(path, {
      metadata: { name: 'e2e-guest-result' },
      data: { seq: '0', result: '{"ready":true}' },
    })
    .catch((err: unknown) => {
      if (!(err instanceof KubeError && err.status === 409)) throw err;
    });
  say('ready');
  let done = 0;
  for (;;) {
    const cm = await rest
      .get<{ data?: { command?: string } }>(`${path}/e2e-guest`)
      .catch(() => undefined);
    const cmd = cm?.data?.command ? (JSON.parse(cm.data.command) as Command) : undefined;
    if (cmd && cmd.seq > done) {
      say(`command ${cmd.seq}: ${cmd.name}`);
      let result: unknown;
      try {
        result = await handle(cmd);
      } catch (err) {
        result = { error: (err as Error).message };
      }
      await rest.patch(`${path}/e2e-guest-result`, 'merge', {
        data: { seq: String(cmd.seq), result: JSON.stringify(result) },
      });
      done = cmd.seq;
      if (cmd.name === 'shutdown') break;
    }
    await sleep(300);
  }
  await writeFile('/tmp/guest-done', 'ok');
  exit(0);
}

await main();
