import { describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './queue.ts';

describe('WorkQueue', () => {
  it('holds a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands out a key being processed, and reprocesses it if it changed meanwhile', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.depth).toBe(0);
    q.done(key as string);
    expect(q.depth).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('retries a failing key with growing delays, and forgets after success', () => {
    vi.useFakeTimers();
    try {
      const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 10_000 });
      vi.spyOn(Math, 'random').mockReturnValue(1);
      expect(q.retry('a')).toBe(100);
      vi.advanceTimersByTime(100);
      expect(q.depth).toBe(1);
      expect(q.retry('a')).toBe(200);
      expect(q.retry('a')).toBe(400);
      q.forget('a');
      expect(q.retry('a')).toBe(100);
    } finally {
      vi.restoreAllMocks();
      vi.useRealTimers();
    }
  });

  it('keeps the earliest of several delayed adds', () => {
    vi.useFakeTimers();
    try {
      const q = new WorkQueue();
      q.addAfter('a', 10_000);
      q.addAfter('a', 1_000);
      q.addAfter('a', 5_000);
      vi.advanceTimersByTime(1_000);
      expect(q.depth).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('wakes a waiting worker on add and ends it on shutdown', async () => {
    const q = new WorkQueue();
    const first = q.get();
    q.add('x');
    expect(await first).toBe('x');
    const second = q.get();
    q.shutDown();
    expect(await second).toBeUndefined();
  });
});
