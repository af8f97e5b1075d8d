import { describe, expect, it } from 'vitest';
import { nodeStatus, substance } from './report.ts';

const now = new Date('2026-05-01T10:00:00.123Z');
const counters = {
  pagesShared: 10,
  pagesSharing: 90,
  pagesUnshared: 5,
  pagesScanned: 200,
  mergedProcesses: 3,
};

describe('nodeStatus', () => {
  it('reports each partition from the kernel counters, sorted, with totals', () => {
    const s = nodeStatus({
      now,
      kernel: { selectiveKsm: true, release: '6.12.117' },
      partitions: [
        { name: 'b', counters, pods: 2, lastMerge: '2026-05-01T09:59:00Z', errors: [] },
        {
          name: 'a',
          pods: 1,
          errors: [{ time: '2026-05-01T09:58:00Z', reason: 'ProcessGone', message: 'x' }],
        },
      ],
      pageSize: 4096,
    });
    expect(s.partitions).toEqual([
      {
        name: 'a',
        pods: 1,
        processes: 0,
        pagesShared: 0,
        pagesSharing: 0,
        pagesUnshared: 0,
        savedBytes: 0,
        errors: [{ time: '2026-05-01T09:58:00Z', reason: 'ProcessGone', message: 'x' }],
      },
      {
        name: 'b',
        pods: 2,
        processes: 3,
        pagesShared: 10,
        pagesSharing: 90,
        pagesUnshared: 5,
        savedBytes: 368_640,
        lastMerge: '2026-05-01T09:59:00Z',
      },
    ]);
    expect(s.savedBytes).toBe(368_640);
    expect(s.savedMemory).toBe('360Ki');
    expect(s.heartbeatTime).toBe('2026-05-01T10:00:00Z');
    expect(s.conditions?.[0]).toMatchObject({ type: 'Merging', status: 'True' });
  });

  it('says why nothing is merged, and keeps the transition time while that holds', () => {
    const blocked = { reason: 'KernelUnsupported', message: 'no Selective KSM' };
    const first = nodeStatus({
      now,
      kernel: { selectiveKsm: false, release: '6.1' },
      blocked,
      partitions: [],
      pageSize: 4096,
    });
    expect(first.kernel).toEqual({
      selectiveKsm: false,
      release: '6.1',
      message: 'no Selective KSM',
    });
    expect(first.conditions?.[0]).toMatchObject({ status: 'False', reason: 'KernelUnsupported' });
    const later = nodeStatus({
      now: new Date('2026-05-01T11:00:00Z'),
      kernel: { selectiveKsm: false, release: '6.1' },
      blocked,
      partitions: [],
      pageSize: 4096,
      previous: first.conditions,
    });
    expect(later.conditions?.[0]?.lastTransitionTime).toBe('2026-05-01T10:00:00Z');
    expect(substance(later)).toBe(substance(first));
  });
});
