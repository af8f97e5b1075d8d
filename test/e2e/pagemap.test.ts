import { describe, expect, it } from 'vitest';
import { crossPartitionFrames, pageStats } from './pagemap.ts';

describe('crossPartitionFrames', () => {
  const frames = (pfns: number[]) =>
    pfns.map((p, i) => ({ address: BigInt(i * 4096), pfn: BigInt(p) }));

  it('finds a frame mapped in two partitions, ignoring frames within one', () => {
    expect(
      crossPartitionFrames([
        { owner: { pid: 1, partition: 'a' }, frames: frames([10, 11, 12]) },
        { owner: { pid: 2, partition: 'a' }, frames: frames([10, 11]) },
        { owner: { pid: 3, partition: 'b' }, frames: frames([20, 12]) },
      ]),
    ).toEqual([{ pfn: 12n, partitions: ['a', 'b'] }]);
  });

  it('ignores frames shared by design', () => {
    const list = [
      { owner: { pid: 1, partition: 'a' }, frames: frames([5]) },
      { owner: { pid: 2, partition: 'b' }, frames: frames([5]) },
    ];
    expect(crossPartitionFrames(list, new Set([5n]))).toEqual([]);
    expect(crossPartitionFrames(list)).toHaveLength(1);
  });
});

describe('pageStats', () => {
  it('counts pages and distinct contents, the last page zero-padded', () => {
    const a = Buffer.alloc(3 * 4096 + 10, 1);
    const b = Buffer.concat([Buffer.alloc(4096, 1), Buffer.alloc(4096, 2)]);
    expect(pageStats([a, b])).toEqual({ pages: 6, distinct: 3 });
  });
});
