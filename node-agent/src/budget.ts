// The per-node page-rate budget: a token bucket shared by every partition,
// so that all merging on a node together stays under the rate a node can
// afford. Pure; the caller supplies the clock and does the waiting.

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly rate: number;
  readonly capacity: number;

  /** `rate` pages per second, bursts up to `capacity` pages. */
  constructor(rate: number, capacity: number, now: number) {
    this.rate = rate;
    this.capacity = capacity;
    this.tokens = capacity;
    this.last = now;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.rate);
    this.last = now;
  }

  /**
   * Takes `pages` if available and returns 0; otherwise takes nothing and
   * returns the milliseconds to wait before they will be. A request larger
   * than the capacity is granted once the bucket is full.
   */
  take(pages: number, now: number): number {
    this.refill(now);
    const need = Math.min(pages, this.capacity);
    if (this.tokens >= need) {
      this.tokens -= need;
      return 0;
    }
    return Math.ceil(((need - this.tokens) / this.rate) * 1000);
  }
}
