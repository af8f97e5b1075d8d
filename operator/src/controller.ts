import {
  GROUP,
  KsmPartition,
  type Labels,
  NodeStatus,
  nodeNames,
  type PartitionStatus,
  partitionNames,
  VERSION,
} from '@selective-ksm/crds';
import {
  type Change,
  EventRecorder,
  KubeError,
  type Logger,
  Reflector,
  type Rest,
  WorkQueue,
} from '@selective-ksm/kube';
import type { OperatorMetrics } from './metrics.ts';
import {
  type NodeState,
  type PartitionState,
  type Plan,
  RELEASE_FINALIZER,
  reconcile,
  type Settings,
} from './reconcile.ts';
import { SelectionIndex } from './selection-index.ts';

// Watch → decide → act. Reflectors keep caches of partitions, pod and
// namespace metadata, and KsmNode reports; every change updates the
// selection index and queues the partitions it affects; a worker turns one
// partition at a time into a Plan (pure, reconcile.ts) and applies it.

const partitionsPath = `/apis/${GROUP}/${VERSION}/${partitionNames.plural}`;
const nodesPath = `/apis/${GROUP}/${VERSION}/${nodeNames.plural}`;

interface Meta {
  name?: string;
  namespace?: string;
  uid?: string;
  labels?: Labels;
  generation?: number;
  resourceVersion?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
}

function toPartitionState(raw: unknown): PartitionState {
  const obj = raw as { metadata?: Meta; spec?: unknown; status?: PartitionStatus };
  const m = obj.metadata ?? {};
  const parsed = KsmPartition.safeParse(raw);
  return {
    name: m.name ?? '',
    uid: m.uid ?? '',
    generation: m.generation ?? 0,
    resourceVersion: m.resourceVersion ?? '',
    deletionTimestamp: m.deletionTimestamp,
    finalizers: m.finalizers ?? [],
    spec: parsed.success ? parsed.data.spec : undefined,
    specError: parsed.success ? undefined : parsed.error.issues.map((i) => i.message).join('; '),
    status: obj.status,
  };
}

function toNodeState(raw: unknown): NodeState {
  const obj = raw as { metadata?: Meta; status?: unknown };
  const status = NodeStatus.safeParse(obj.status ?? {});
  const s = status.success ? status.data : {};
  return {
    name: obj.metadata?.name ?? '',
    heartbeatTime: s.heartbeatTime,
    kernelSupported: s.kernel?.selectiveKsm,
    partitions: s.partitions ?? [],
  };
}

interface PodMeta {
  namespace: string;
  name: string;
  uid: string;
  labels: Labels;
}

function toPodMeta(raw: unknown): PodMeta {
  const m = (raw as { metadata?: Meta }).metadata ?? {};
  return {
    namespace: m.namespace ?? '',
    name: m.name ?? '',
    uid: m.uid ?? '',
    labels: m.labels ?? {},
  };
}

function toNamespaceLabels(raw: unknown): Labels {
  return (raw as { metadata?: Meta }).metadata?.labels ?? {};
}

/** A JSON merge patch turning `from` into `to` at the top level (removed keys become null). */
function mergePatch(from: object | undefined, to: object): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...to };
  for (const key of Object.keys(from ?? {})) if (!(key in to)) patch[key] = null;
  return patch;
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
}

export interface ControllerOptions {
  rest: Rest;
  log: Logger;
  metrics: OperatorMetrics;
  settings: Settings;
  workers: number;
}

export class Controller {
  private readonly rest: Rest;
  private readonly log: Logger;
  private readonly metrics: OperatorMetrics;
  private readonly settings: Settings;
  private readonly workers: number;
  private readonly queue: WorkQueue;
  private readonly index = new SelectionIndex();
  private readonly events: EventRecorder;
  private readonly partitions: Reflector<PartitionState>;
  private readonly pods: Reflector<PodMeta>;
  private readonly namespaces: Reflector<Labels>;
  private readonly nodes: Reflector<NodeState>;
  /** Pod UID → the conflict already announced on it. */
  private readonly announced = new Map<string, string>();
  private running: Promise<void>[] = [];
  private isSynced = false;
  private stopped = false;

  constructor(opts: ControllerOptions) {
    this.rest = opts.rest;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.settings = opts.settings;
    this.workers = opts.workers;
    this.queue = new WorkQueue({ onDepth: (d) => this.metrics.queueDepth.set(d) });
    this.events = new EventRecorder(this.rest, 'selective-ksm-operator', this.log);
    const restart = (resource: string) => (reason: string) =>
      this.metrics.watchRestarts.inc({ resource, reason });

    this.partitions = new Reflector(this.rest, {
      name: 'ksmpartitions',
      path: partitionsPath,
      transform: toPartitionState,
      onChange: (c) => this.onPartition(c),
      log: this.log,
      onRestart: restart('ksmpartitions'),
    });
    this.pods = new Reflector(this.rest, {
      name: 'pods',
      path: '/api/v1/pods',
      metadataOnly: true,
      transform: toPodMeta,
      onChange: (c) => this.onPod(c),
      log: this.log,
      onRestart: restart('pods'),
    });
    this.namespaces = new Reflector(this.rest, {
      name: 'namespaces',
      path: '/api/v1/namespaces',
      metadataOnly: true,
      transform: toNamespaceLabels,
      onChange: (c) => this.onNamespace(c),
      log: this.log,
      onRestart: restart('namespaces'),
    });
    this.nodes = new Reflector(this.rest, {
      name: 'ksmnodes',
      path: nodesPath,
      transform: toNodeState,
      onChange: (c) => this.onNode(c),
      log: this.log,
      onRestart: restart('ksmnodes'),
    });
  }

  /** All caches listed; before that, nothing is decided. */
  get synced(): boolean {
    return this.isSynced;
  }

  /** Starts the watches; workers begin once every cache has listed. */
  start(): void {
    const reflectors = [this.namespaces, this.pods, this.nodes, this.partitions];
    for (const r of reflectors) r.start();
    void Promise.all(reflectors.map((r) => r.whenSynced())).then(() => {
      if (this.stopped) return;
      this.isSynced = true;
      this.log.info('caches synced; reconciling', { partitions: this.partitions.store.size });
      for (const name of this.partitions.store.keys()) this.queue.add(name);
      for (let i = 0; i < this.workers; i++) this.running.push(this.work());
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.shutDown();
    await Promise.all(
      [this.partitions, this.pods, this.namespaces, this.nodes].map((r) => r.stop()),
    );
    await Promise.all(this.running);
    this.running = [];
  }

  private enqueue(names: Iterable<string>): void {
    for (const n of names) this.queue.add(n);
  }

  private onPartition(c: Change<PartitionState>): void {
    if (c.type === 'deleted') {
      this.enqueue(this.index.deletePartition(c.key));
      this.metrics.forgetPartition(c.key);
      return;
    }
    const p = c.object;
    const specChanged = c.type === 'added' || stableJson(c.old.spec) !== stableJson(p.spec);
    if (specChanged) {
      // A spec that does not parse selects nothing (and says so in Ready).
      this.enqueue(
        p.spec
          ? this.index.setPartition({ name: p.name, spec: p.spec })
          : this.index.deletePartition(p.name),
      );
    }
    this.queue.add(p.name);
  }

  private onPod(c: Change<PodMeta>): void {
    if (c.type === 'deleted') {
      this.announced.delete(c.old.uid);
      this.enqueue(this.index.deletePod(c.old.uid));
    } else {
      this.enqueue(this.index.setPod(c.object));
    }
  }

  private onNamespace(c: Change<Labels>): void {
    if (c.type === 'deleted') this.enqueue(this.index.deleteNamespace(c.key));
    else this.enqueue(this.index.setNamespace(c.key, c.object));
  }

  private onNode(c: Change<NodeState>): void {
    const names = new Set<string>();
    if (c.type !== 'added') for (const p of c.old.partitions) names.add(p.name);
    if (c.type !== 'deleted') for (const p of c.object.partitions) names.add(p.name);
    this.enqueue(names);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const end = this.metrics.reconcileDuration.startTimer();
      try {
        const result = await this.reconcileOne(key);
        this.queue.forget(key);
        this.metrics.reconciles.inc({ result });
      } catch (err) {
        const delay = this.queue.retry(key);
        this.metrics.reconciles.inc({ result: 'error' });
        this.log.warn('reconcile failed; will retry', {
          partition: key,
          error: (err as Error).message,
          retryInMs: delay,
        });
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  private async reconcileOne(name: string): Promise<'success' | 'requeue'> {
    const partition = this.partitions.store.get(name);
    if (!partition) return 'success';
    const plan = reconcile({
      partition,
      members: this.index.membersOf(name),
      nodes: [...this.nodes.store.values()],
      now: new Date(),
      settings: this.settings,
    });
    await this.apply(partition, plan);
    this.metrics.observePartition(name, plan.status.conditions ?? []);
    if (plan.requeueAfterMs !== undefined) {
      this.queue.addAfter(name, plan.requeueAfterMs);
      return 'requeue';
    }
    return 'success';
  }

  private async apply(p: PartitionState, plan: Plan): Promise<void> {
    const path = `${partitionsPath}/${p.name}`;
    if (plan.finalizer === 'add') {
      await this.rest.patch(path, 'json', [
        p.finalizers.length > 0
          ? { op: 'test', path: '/metadata/finalizers', value: p.finalizers }
          : { op: 'test', path: '/metadata/uid', value: p.uid },
        p.finalizers.length > 0
          ? { op: 'add', path: '/metadata/finalizers/-', value: RELEASE_FINALIZER }
          : { op: 'add', path: '/metadata/finalizers', value: [RELEASE_FINALIZER] },
      ]);
    }
    if (stableJson(p.status ?? {}) !== stableJson(plan.status)) {
      await this.rest
        .patch(`${path}/status`, 'merge', { status: mergePatch(p.status, plan.status) })
        .catch((err: unknown) => {
          // Gone between the decision and the write: nothing left to do.
          if (!(err instanceof KubeError && err.status === 404)) throw err;
        });
    }
    for (const e of plan.events) await this.events.record(e);
    for (const e of plan.podEvents) {
      const uid = e.object.uid ?? '';
      if (this.announced.get(uid) === e.message) continue;
      await this.events.record(e);
      this.announced.set(uid, e.message);
    }
    if (plan.finalizer === 'remove') {
      await this.rest.patch(path, 'json', [
        { op: 'test', path: '/metadata/finalizers', value: p.finalizers },
        {
          op: 'replace',
          path: '/metadata/finalizers',
          value: p.finalizers.filter((f) => f !== RELEASE_FINALIZER),
        },
      ]);
      this.log.info('partition released', { partition: p.name });
    }
  }
}
