import { join } from 'node:path';
import {
  GROUP,
  KsmPartition,
  type Labels,
  type MergeError,
  type NodeStatus,
  nodeNames,
  partitionNames,
  VERSION,
} from '@selective-ksm/crds';
import { KubeError, type Logger, Reflector, type Rest, sleep } from '@selective-ksm/kube';
import { TokenBucket } from './budget.ts';
import { CgroupLocator } from './cgroup.ts';
import { readIdentity, sameProcess } from './identity.ts';
import { KernelClient, KernelError } from './kernel.ts';
import { type Range, rangePages } from './maps.ts';
import type { AgentMetrics } from './metrics.ts';
import { podState, type RawPod } from './pods.ts';
import { nodeStatus, substance } from './report.ts';
import { processRanges, resolveContainers } from './resolve.ts';
import { decide, type MergeTask, type PartitionInfo, type PodState } from './schedule.ts';

// Watch → decide → act, on one node. Reflectors keep this node's pods, all
// partitions and namespace labels; each pass reads the kernel's state,
// decides (schedule.ts, pure) and carries it out: releases, removals, then
// merges paced by the page budgets; finally it publishes KsmNode status.

/** The whole user address space of x86-64 (4-level paging): unmerge it all. */
const USER_SPACE: Range = { start: 0n, end: 0x7ffffffff000n };
const PAGE_SIZE = 4096;
const ERROR_TTL_MS = 10 * 60_000;

export interface AgentOptions {
  rest: Rest;
  log: Logger;
  metrics: AgentMetrics;
  nodeName: string;
  /** The host's / (a fixture tree in tests, /proc/1/root in a pod). */
  hostRoot: string;
  selfPodUid?: string | undefined;
  /** Node-wide page budget, pages per second (all partitions together). */
  maxPagesPerSecond: number;
  /** Pages per kernel call. */
  chunkPages: number;
  /** Longest time between two passes. */
  resyncMs: number;
  /** Least time between two KsmNode writes, unless the heartbeat is due. */
  reportMinIntervalMs: number;
  heartbeatMs: number;
}

interface Stats {
  lastMerge?: string;
  errors: MergeError[];
}

export class Agent {
  private readonly o: AgentOptions;
  private readonly kernel: KernelClient;
  private readonly cgroups: CgroupLocator;
  private readonly proc: string;
  private readonly pods: Reflector<RawPod>;
  private readonly partitions: Reflector<PartitionInfo | undefined>;
  private readonly namespaces: Reflector<Labels>;
  private readonly nodeBudget: TokenBucket;
  private readonly partitionBudgets = new Map<string, TokenBucket>();
  private readonly lastMerge = new Map<string, number>();
  private readonly stats = new Map<string, Stats>();
  private readonly startedAt = Date.now();
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private lastReport: { substance: string; at: number; status?: NodeStatus } = {
    substance: '',
    at: 0,
  };
  private synced = false;
  private passes = 0;

  constructor(o: AgentOptions) {
    this.o = o;
    this.kernel = new KernelClient(o.hostRoot);
    this.cgroups = new CgroupLocator(join(o.hostRoot, 'sys/fs/cgroup'));
    this.proc = join(o.hostRoot, 'proc');
    this.nodeBudget = new TokenBucket(o.maxPagesPerSecond, o.maxPagesPerSecond, Date.now());
    const changed = () => this.poke();
    const restart = (resource: string) => (reason: string) =>
      o.metrics.watchRestarts.inc({ resource, reason });
    this.pods = new Reflector(o.rest, {
      name: 'pods',
      path: '/api/v1/pods',
      fieldSelector: `spec.nodeName=${o.nodeName}`,
      transform: (raw) => raw as RawPod,
      onChange: changed,
      log: o.log,
      onRestart: restart('pods'),
    });
    this.partitions = new Reflector(o.rest, {
      name: 'ksmpartitions',
      path: `/apis/${GROUP}/${VERSION}/${partitionNames.plural}`,
      transform: (raw) => {
        const p = KsmPartition.safeParse(raw);
        // One that does not parse selects nothing here, as in the operator.
        return p.success
          ? {
              name: p.data.metadata.name ?? '',
              spec: p.data.spec,
              deleting: p.data.metadata.deletionTimestamp !== undefined,
            }
          : undefined;
      },
      onChange: changed,
      log: o.log,
      onRestart: restart('ksmpartitions'),
    });
    this.namespaces = new Reflector(o.rest, {
      name: 'namespaces',
      path: '/api/v1/namespaces',
      metadataOnly: true,
      transform: (raw) => (raw as { metadata?: { labels?: Labels } }).metadata?.labels ?? {},
      onChange: changed,
      log: o.log,
      onRestart: restart('namespaces'),
    });
  }

  get ready(): boolean {
    return this.synced && this.passes > 0;
  }

  start(): void {
    const reflectors = [this.pods, this.partitions, this.namespaces];
    for (const r of reflectors) r.start();
    this.loop = Promise.all(reflectors.map((r) => r.whenSynced())).then(async () => {
      this.synced = true;
      await this.run();
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.poke();
    await Promise.all([this.pods, this.partitions, this.namespaces].map((r) => r.stop()));
    await this.loop;
  }

  /** Runs a pass soon (objects changed). */
  private poke(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      let nextDue: number | undefined;
      try {
        nextDue = await this.pass();
      } catch (err) {
        this.o.log.error('pass failed', { error: (err as Error).message });
      }
      this.passes++;
      const wait = Math.min(
        this.o.resyncMs,
        Math.max(100, (nextDue ?? Number.POSITIVE_INFINITY) - Date.now()),
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
        this.abort.signal.addEventListener('abort', done, { once: true });
      });
      this.wake = undefined;
      // Let a burst of watch events settle into one pass.
      await sleep(200, this.abort.signal);
    }
  }

  private partitionList(): PartitionInfo[] {
    return [...this.partitions.store.values()].filter((p): p is PartitionInfo => p !== undefined);
  }

  /** One pass; returns when the next merge falls due. */
  private async pass(): Promise<number | undefined> {
    const started = Date.now();
    const supported = await this.kernel.supported();
    const release = await this.kernel.release();
    this.o.metrics.kernelSupported.set(supported ? 1 : 0);
    const pods = [...this.pods.store.values()].map(podState);
    const knowledge = {
      now: started,
      agentStartedAt: this.startedAt,
      pods,
      namespaces: new Map(this.namespaces.store),
      partitions: this.partitionList(),
      lastMerge: this.lastMerge,
      selfPodUid: this.o.selfPodUid,
    };
    let blocked: { reason: string; message: string } | undefined;
    if (!supported) {
      blocked = {
        reason: 'KernelUnsupported',
        message: `kernel ${release} has no Selective KSM (no /sys/kernel/mm/ksm/control/add_partition): nothing is merged on this node`,
      };
    } else if (!(await this.cgroups.isUnified())) {
      blocked = {
        reason: 'CgroupV1',
        message:
          'this node uses cgroup v1; the agent needs cgroup v2 to find container processes: nothing is merged',
      };
    }
    if (blocked) {
      // Still say which partitions have pods here, so the operator can tell.
      const d = decide({ ...knowledge, kernelPartitions: [], bindings: new Map() });
      await this.report(d.podsByPartition, blocked);
      return undefined;
    }

    const kernelPartitions = await this.kernel.partitions();
    const located = await resolveContainers(pods, this.cgroups, this.kernel, this.o.selfPodUid);
    const decision = decide({ ...knowledge, kernelPartitions, bindings: located.bindings });

    for (const r of decision.release) {
      for (const pid of located.pids.get(r.container.key) ?? []) {
        await this.kernel.unmerge(r.partition, pid, USER_SPACE).catch((err: unknown) => {
          if (!(err instanceof KernelError && err.errno === 'ESRCH'))
            this.recordError(r.partition, r.pod, err);
        });
      }
      this.lastMerge.delete(r.container.key);
      this.o.log.info('released a container from a partition it left', {
        partition: r.partition,
        pod: `${r.pod.namespace}/${r.pod.name}`,
        container: r.container.name,
      });
    }
    for (const name of decision.removePartitions) {
      await this.kernel.removePartition(name).then(
        () => {
          this.stats.delete(name);
          this.partitionBudgets.delete(name);
          this.o.log.info('removed a partition that no longer exists', { partition: name });
        },
        (err: Error) =>
          this.o.log.warn('could not remove a partition', { partition: name, error: err.message }),
      );
    }
    // Report before, between and after merges: a long pass must not look
    // like a silent node to the operator.
    await this.report(decision.podsByPartition);
    for (const task of decision.merge) {
      if (this.abort.signal.aborted) break;
      await this.mergeContainer(task, located.cgroups.get(task.container.key));
      await this.report(decision.podsByPartition);
    }
    this.o.metrics.passDuration.observe((Date.now() - started) / 1000);
    return decision.nextDue;
  }

  private budgetFor(partition: string, rate: number): TokenBucket {
    let b = this.partitionBudgets.get(partition);
    if (!b || b.rate !== rate) {
      b = new TokenBucket(rate, rate, Date.now());
      this.partitionBudgets.set(partition, b);
    }
    return b;
  }

  /** Waits until both the node's and the partition's budgets grant `pages`. */
  private async spend(partitionBudget: TokenBucket, pages: number): Promise<void> {
    for (;;) {
      const wait = Math.max(this.nodeBudget.take(pages, Date.now()), 0);
      if (wait === 0) {
        const w2 = partitionBudget.take(pages, Date.now());
        if (w2 === 0) return;
        this.o.metrics.budgetWaits.inc({ budget: 'partition' });
        await sleep(w2, this.abort.signal);
        continue;
      }
      this.o.metrics.budgetWaits.inc({ budget: 'node' });
      await sleep(wait, this.abort.signal);
      if (this.abort.signal.aborted) return;
    }
  }

  private async mergeContainer(task: MergeTask, cgroup: string | undefined): Promise<void> {
    const { partition, pod, container } = task;
    const spec = this.partitionList().find((p) => p.name === partition)?.spec;
    if (!spec || !cgroup) return;
    const started = Date.now();
    const budget = this.budgetFor(partition, spec.merge.maxPagesPerSecond);
    let pages = 0;
    let failed = false;
    try {
      await this.kernel.ensurePartition(partition);
    } catch (err) {
      this.recordError(partition, pod, err);
      return;
    }
    for (const pid of await this.cgroups.processes(cgroup)) {
      const before = await readIdentity(this.proc, pid);
      if (!before || !sameProcess(before, before, cgroup)) continue;
      const ranges = await processRanges(this.proc, pid, spec.memory, this.o.chunkPages);
      for (const range of ranges) {
        if (this.abort.signal.aborted) return;
        const n = rangePages(range);
        await this.spend(budget, n);
        try {
          await this.kernel.merge(partition, pid, range);
          pages += n;
          this.o.metrics.merges.inc({ partition, result: 'success' });
        } catch (err) {
          // An exited process, or a range unmapped since we read the maps: skip it quietly.
          if (err instanceof KernelError && (err.errno === 'ESRCH' || err.errno === 'ENOMEM')) {
            this.o.metrics.merges.inc({ partition, result: 'skipped' });
            continue;
          }
          this.o.metrics.merges.inc({ partition, result: 'error' });
          this.recordError(partition, pod, err);
          failed = true;
          break;
        }
        const after = await readIdentity(this.proc, pid);
        if (after && !sameProcess(before, after, cgroup)) {
          // The PID changed hands during the call: take back what was merged.
          await this.kernel.unmerge(partition, pid, range).catch(() => undefined);
          this.recordError(
            partition,
            pod,
            new KernelError(
              'ESRCH',
              'PidReused',
              `pid ${pid} was reused during a merge; that range was unmerged`,
            ),
          );
          break;
        }
        if (!after) break;
      }
    }
    this.lastMerge.set(container.key, Date.now());
    const stats = this.statsOf(partition);
    stats.lastMerge = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.o.metrics.pagesRequested.inc({ partition }, pages);
    this.o.metrics.mergeDuration.observe({ partition }, (Date.now() - started) / 1000);
    this.o.log.info('merged a container', {
      partition,
      pod: `${pod.namespace}/${pod.name}`,
      container: container.name,
      pages,
      ms: Date.now() - started,
      ...(failed ? { failed: true } : {}),
    });
  }

  private statsOf(partition: string): Stats {
    let s = this.stats.get(partition);
    if (!s) {
      s = { errors: [] };
      this.stats.set(partition, s);
    }
    return s;
  }

  private recordError(partition: string, pod: PodState, err: unknown): void {
    const reason = err instanceof KernelError ? err.reason : 'Error';
    const message = (err as Error).message;
    const s = this.statsOf(partition);
    s.errors.unshift({
      time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      pod: `${pod.namespace}/${pod.name}`,
      reason,
      message: message.slice(0, 1000),
    });
    s.errors.length = Math.min(s.errors.length, 10);
    this.o.metrics.errors.inc({ partition, reason });
    this.o.log.warn('merge error', {
      partition,
      pod: `${pod.namespace}/${pod.name}`,
      reason,
      error: message,
    });
  }

  private async report(
    podsByPartition: ReadonlyMap<string, number>,
    blocked?: { reason: string; message: string },
  ): Promise<void> {
    const now = new Date();
    const kernelPartitions = blocked ? [] : await this.kernel.partitions();
    // Listed: what the kernel holds, and where pods here are selected.
    const names = new Set([...kernelPartitions, ...podsByPartition.keys()]);
    const facts = [];
    for (const name of names) {
      const counters = kernelPartitions.includes(name)
        ? await this.kernel.counters(name).catch(() => undefined)
        : undefined;
      const s = this.statsOf(name);
      s.errors = s.errors.filter((e) => now.getTime() - Date.parse(e.time) < ERROR_TTL_MS);
      facts.push({
        name,
        counters,
        pods: podsByPartition.get(name) ?? 0,
        lastMerge: s.lastMerge,
        errors: s.errors,
      });
      this.o.metrics.observePartition(name, counters, podsByPartition.get(name) ?? 0);
    }
    this.o.metrics.forgetPartitionsExcept(names);
    const status = nodeStatus({
      now,
      kernel: {
        selectiveKsm: blocked?.reason !== 'KernelUnsupported',
        release: await this.kernel.release(),
      },
      blocked,
      partitions: facts,
      pageSize: PAGE_SIZE,
      previous: this.lastReport.status?.conditions,
    });
    const what = substance(status);
    const since = now.getTime() - this.lastReport.at;
    const changed = what !== this.lastReport.substance;
    if ((changed && since >= this.o.reportMinIntervalMs) || since >= this.o.heartbeatMs) {
      await this.writeStatus(status);
      this.lastReport = { substance: what, at: now.getTime(), status };
    }
  }

  private async writeStatus(status: NodeStatus): Promise<void> {
    const path = `/apis/${GROUP}/${VERSION}/${nodeNames.plural}/${this.o.nodeName}`;
    try {
      await this.o.rest.patch(`${path}/status`, 'json', [
        { op: 'add', path: '/status', value: status },
      ]);
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 404)) throw err;
      // First report: create our KsmNode, owned by our Node so it goes with it.
      const node = await this.o.rest.get<{ metadata: { uid: string } }>(
        `/api/v1/nodes/${this.o.nodeName}`,
      );
      await this.o.rest
        .create(`/apis/${GROUP}/${VERSION}/${nodeNames.plural}`, {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: nodeNames.kind,
          metadata: {
            name: this.o.nodeName,
            ownerReferences: [
              { apiVersion: 'v1', kind: 'Node', name: this.o.nodeName, uid: node.metadata.uid },
            ],
          },
        })
        .catch((e: unknown) => {
          if (!(e instanceof KubeError && e.status === 409)) throw e;
        });
      await this.o.rest.patch(`${path}/status`, 'json', [
        { op: 'add', path: '/status', value: status },
      ]);
    }
  }
}
