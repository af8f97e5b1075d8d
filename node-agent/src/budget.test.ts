import { describe, expect, it } from 'vitest';
import { TokenBucket } from './budget.ts';

describe('TokenBucket', () => {
  it('grants a full bucket at once, then paces at the rate', () => {
    const b = new TokenBucket(1000, 1000, 0);
    expect(b.take(1000, 0)).toBe(0);
    expect(b.take(500, 0)).toBe(500);
    expect(b.take(500, 500)).toBe(0);
  });

  it('never holds more than its capacity', () => {
    const b = new TokenBucket(100, 200, 0);
    expect(b.take(200, 0)).toBe(0);
    expect(b.take(300, 60_000)).toBe(0);
    expect(b.take(1, 60_000)).toBe(10);
  });

  it('grants a request larger than the capacity once the bucket is full', () => {
    const b = new TokenBucket(100, 100, 0);
    expect(b.take(100, 0)).toBe(0);
    expect(b.take(1000, 0)).toBe(1000);
    expect(b.take(1000, 1000)).toBe(0);
  });
});
