import { sleep } from './backoff.ts';
import type { Logger } from './log.ts';
import { KubeError, type Rest } from './rest.ts';

// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
// the holder renews every retry period; a candidate takes the lease once it
// has seen no renewal for a whole lease duration (by its own clock, so clock
// skew between nodes does not matter); a holder that cannot renew within
// the renew deadline stops acting before anyone else can start.

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onLeading: (leading: boolean) => void;
}

interface Lease {
  metadata: { resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly opts: LeaseOptions;
  private readonly path: string;
  private leading = false;
  private observed = '';
  private observedAt = 0;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly rest: Rest;

  constructor(rest: Rest, opts: LeaseOptions) {
    this.rest = rest;
    this.opts = opts;
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases/${opts.name}`;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning; a leader gives the lease up so a peer takes over at once. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.leading) {
      await this.release().catch((err: Error) =>
        this.opts.log.warn('could not release the lease', { error: err.message }),
      );
      this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.opts.log.info(leading ? 'became leader' : 'stopped leading', {
      lease: `${this.opts.namespace}/${this.opts.name}`,
      identity: this.opts.identity,
    });
    this.opts.onLeading(leading);
  }

  private async run(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.opts;
    let lastRenew = 0;
    while (!this.abort.signal.aborted) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.opts.log.warn('lease update failed', { error: (err as Error).message });
      }
      const now = Date.now();
      if (ok) {
        lastRenew = now;
        this.setLeading(true);
      } else if (this.leading && now - lastRenew > renewDeadlineMs) {
        this.setLeading(false);
      }
      // Jitter keeps candidates from retrying in lockstep.
      const wait = this.leading ? retryPeriodMs : retryPeriodMs * (1 + Math.random() * 0.2);
      await sleep(wait, this.abort.signal);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { identity, leaseDurationMs } = this.opts;
    const now = new Date();
    let lease: Lease;
    try {
      lease = await this.rest.get<Lease>(this.path, { timeoutMs: this.opts.retryPeriodMs * 2 });
    } catch (err) {
      if (!(err instanceof KubeError && err.status === 404)) throw err;
      await this.rest.create(this.path.replace(/\/[^/]+$/, ''), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}@${spec.renewTime ?? ''}`;
    if (record !== this.observed) {
      this.observed = record;
      this.observedAt = Date.now();
    }
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder && holder !== identity && this.observedAt + durationMs > Date.now()) {
      return false;
    }
    const taking = holder !== identity;
    await this.rest.request('PUT', this.path, {
      body: {
        ...lease,
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
          acquireTime: taking ? microTime(now) : spec.acquireTime,
          renewTime: microTime(now),
          leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && holder ? 1 : 0),
        },
      },
      timeoutMs: this.opts.retryPeriodMs * 2,
    });
    return true;
  }

  private async release(): Promise<void> {
    const lease = await this.rest.get<Lease>(this.path);
    if (lease.spec?.holderIdentity !== this.opts.identity) return;
    await this.rest.request('PUT', this.path, {
      body: {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(new Date()),
        },
      },
    });
    this.opts.log.info('released the lease', { lease: `${this.opts.namespace}/${this.opts.name}` });
  }
}
