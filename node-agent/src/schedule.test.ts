import { PartitionSpec } from '@selective-ksm/crds';
import { describe, expect, it } from 'vitest';
import { decide, type Knowledge, type PartitionInfo, type PodState } from './schedule.ts';

const t0 = Date.parse('2026-05-01T10:00:00Z');
const s = (n: number) => n * 1000;

const spec = (over: Partial<PartitionSpec> = {}): PartitionSpec => ({
  ...PartitionSpec.parse({
    namespaceSelector: { matchLabels: { tenant: 'a' } },
    merge: { interval: '10m', maxPagesPerSecond: 1000 },
  }),
  ...over,
});
const partition = (
  name: string,
  over: Partial<PartitionSpec> = {},
  deleting = false,
): PartitionInfo => ({
  name,
  spec: spec(over),
  deleting,
});

const pod = (name: string, over: Partial<PodState> = {}): PodState => ({
  uid: `uid-${name}`,
  namespace: 'ns-a',
  name,
  labels: {},
  hostPID: false,
  containers: [
    {
      key: `uid-${name}/app`,
      name: 'app',
      ref: { runtime: 'containerd', id: 'a'.repeat(64) },
      startedAt: t0,
    },
    {
      key: `uid-${name}/sidecar`,
      name: 'sidecar',
      ref: { runtime: 'containerd', id: 'b'.repeat(64) },
      startedAt: t0,
    },
  ],
  ...over,
});

const knowledge = (over: Partial<Knowledge> = {}): Knowledge => ({
  now: t0 + s(60),
  agentStartedAt: t0 - s(3600),
  pods: [pod('web')],
  namespaces: new Map([
    ['ns-a', { tenant: 'a' }],
    ['ns-b', { tenant: 'b' }],
  ]),
  partitions: [
    partition('tenant-a'),
    partition('tenant-b', { namespaceSelector: { matchLabels: { tenant: 'b' } } }),
  ],
  kernelPartitions: [],
  bindings: new Map(),
  lastMerge: new Map(),
  ...over,
});

const merged = (k: Knowledge) => decide(k).merge.map((m) => `${m.partition}:${m.container.key}`);

describe('decide: when to merge', () => {
  it('waits the initial delay after the container started, then merges every selected container', () => {
    expect(merged(knowledge({ now: t0 + s(29) }))).toEqual([]);
    expect(decide(knowledge({ now: t0 + s(29) })).nextDue).toBe(t0 + s(30));
    expect(merged(knowledge({ now: t0 + s(30) }))).toEqual([
      'tenant-a:uid-web/app',
      'tenant-a:uid-web/sidecar',
    ]);
  });

  it('merges again after the interval, and never again without one', () => {
    const lastMerge = new Map([
      ['uid-web/app', t0 + s(30)],
      ['uid-web/sidecar', t0 + s(30)],
    ]);
    expect(merged(knowledge({ lastMerge, now: t0 + s(629) }))).toEqual([]);
    expect(merged(knowledge({ lastMerge, now: t0 + s(630) }))).toHaveLength(2);
    const once = [
      partition('tenant-a', { merge: { initialDelay: '30s', maxPagesPerSecond: 1000 } }),
    ];
    expect(merged(knowledge({ lastMerge, partitions: once, now: t0 + s(99_999) }))).toEqual([]);
    expect(decide(knowledge({ lastMerge, partitions: once })).nextDue).toBeUndefined();
  });

  it('merges only the containers the partition names', () => {
    expect(
      merged(knowledge({ partitions: [partition('tenant-a', { containers: ['app'] })] })),
    ).toEqual(['tenant-a:uid-web/app']);
  });

  it('merges the longest overdue first', () => {
    const late = pod('late', {
      containers: [
        { ...pod('x').containers[0], key: 'uid-late/app', startedAt: t0 - s(600) },
      ] as PodState['containers'],
    });
    expect(merged(knowledge({ pods: [pod('web'), late] }))[0]).toBe('tenant-a:uid-late/app');
  });

  it('after a restart, does not merge again at once what the kernel shows merged', () => {
    const k = knowledge({
      agentStartedAt: t0 + s(50),
      now: t0 + s(60),
      bindings: new Map([['uid-web/app', new Set(['tenant-a'])]]),
    });
    expect(merged(k)).toEqual(['tenant-a:uid-web/sidecar']);
    expect(decide(k).nextDue).toBe(t0 + s(50) + s(600));
  });

  it('never merges hostPID pods, its own pod, or a pod of a partition being deleted', () => {
    expect(merged(knowledge({ pods: [pod('web', { hostPID: true })] }))).toEqual([]);
    expect(merged(knowledge({ selfPodUid: 'uid-web' }))).toEqual([]);
    expect(merged(knowledge({ partitions: [partition('tenant-a', {}, true)] }))).toEqual([]);
  });

  it('merges a pod selected by two partitions into neither', () => {
    const both = [
      partition('tenant-a'),
      partition('everything', { namespaceSelector: undefined, podSelector: {} }),
    ];
    const d = decide(knowledge({ partitions: both }));
    expect(d.merge).toEqual([]);
    expect(d.podsByPartition.size).toBe(0);
  });
});

describe('decide: releasing', () => {
  const boundToA = new Map([['uid-web/app', new Set(['tenant-a'])]]);

  it('unmerges a container that moved to another partition', () => {
    const d = decide(knowledge({ pods: [pod('web', { namespace: 'ns-b' })], bindings: boundToA }));
    expect(d.release.map((r) => `${r.partition}:${r.container.key}`)).toEqual([
      'tenant-a:uid-web/app',
    ]);
    expect(d.merge.map((m) => m.partition)).toEqual(['tenant-b', 'tenant-b']);
  });

  it('unmerges a container of a pod that became conflicted', () => {
    const both = [
      partition('tenant-a'),
      partition('everything', { namespaceSelector: undefined, podSelector: {} }),
    ];
    expect(decide(knowledge({ partitions: both, bindings: boundToA })).release).toHaveLength(1);
  });

  it('leaves it merged when the partition says unmergeOnRelease: false', () => {
    const keep = [partition('tenant-a', { unmergeOnRelease: false })];
    expect(
      decide(
        knowledge({
          partitions: keep,
          pods: [pod('web', { labels: {}, namespace: 'ns-b' })],
          bindings: boundToA,
        }),
      ).release,
    ).toEqual([]);
  });

  it('removes kernel partitions with no live KsmPartition, which unmerges them whole', () => {
    const d = decide(
      knowledge({
        partitions: [partition('tenant-a', {}, true), partition('tenant-b')],
        kernelPartitions: ['tenant-a', 'tenant-b', 'forgotten'],
        bindings: boundToA,
      }),
    );
    expect(d.removePartitions).toEqual(['forgotten', 'tenant-a']);
    expect(d.release).toEqual([]);
  });

  it('does not release what stays where it is', () => {
    expect(decide(knowledge({ bindings: boundToA })).release).toEqual([]);
  });
});
