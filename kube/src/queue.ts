import { backoffDelay } from './backoff.ts';

// A work queue in the style of client-go's: a key is queued at most once;
// a key being processed is never handed to a second worker, and if it
// changes meanwhile it is processed once more afterwards; failures retry
// with per-key exponential backoff.

export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private waiters: (() => void)[] = [];
  private closed = false;
  private readonly opts: Required<Omit<QueueOptions, 'onDepth'>> & Pick<QueueOptions, 'onDepth'>;

  constructor(opts: QueueOptions = {}) {
    this.opts = { baseDelayMs: 200, maxDelayMs: 60_000, ...opts };
  }

  get depth(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.closed) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.opts.onDepth?.(this.queue.length);
    this.waiters.shift()?.();
  }

  /** Adds the key after `ms`; of several pending delayed adds, the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.closed) return;
    const due = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending) {
      if (pending.due <= due) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { timer, due });
  }

  /** Re-adds a failed key after its backoff; returns the delay. */
  retry(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.max(
      this.opts.baseDelayMs,
      backoffDelay(n, this.opts.baseDelayMs, this.opts.maxDelayMs),
    );
    this.addAfter(key, delay);
    return delay;
  }

  /** Forgets a key's failures after it succeeded. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key, or undefined once the queue is shut down. */
  async get(): Promise<string | undefined> {
    while (this.queue.length === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    const key = this.queue.shift() as string;
    this.queued.delete(key);
    this.processing.add(key);
    this.opts.onDepth?.(this.queue.length);
    return key;
  }

  /** Marks a key processed; queues it again if it changed meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  shutDown(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w();
  }
}
