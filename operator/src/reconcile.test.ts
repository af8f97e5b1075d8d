import { type NodePartitionReport, PartitionSpec } from '@selective-ksm/crds';
import { describe, expect, it } from 'vitest';
import {
  type NodeState,
  type PartitionState,
  RELEASE_FINALIZER,
  type ReconcileInput,
  reconcile,
} from './reconcile.ts';
import type { PartitionMembers } from './selection-index.ts';

const now = new Date('2026-03-01T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();

// The schema's defaults, as the apiserver fills them in.
const spec = PartitionSpec.parse({ podSelector: {}, merge: { maxPagesPerSecond: 100 } });

const partition = (over: Partial<PartitionState> = {}): PartitionState => ({
  name: 'tenant-a',
  uid: 'uid-a',
  generation: 2,
  resourceVersion: '100',
  finalizers: [RELEASE_FINALIZER],
  spec,
  ...over,
});

const pod = (name: string) => ({ namespace: 'ns', name, uid: `uid-${name}`, labels: {} });
const members = (matched: string[], conflicts: string[] = []): PartitionMembers => ({
  matched: matched.map(pod),
  conflicts: conflicts.map((n) => ({ pod: pod(n), partitions: ['other', 'tenant-a'] })),
});

const report = (over: Partial<NodePartitionReport> = {}): NodePartitionReport => ({
  name: 'tenant-a',
  pods: 1,
  processes: 2,
  pagesShared: 10,
  pagesSharing: 30,
  savedBytes: 30 * 4096,
  ...over,
});

const node = (
  name: string,
  reports: NodePartitionReport[],
  over: Partial<NodeState> = {},
): NodeState => ({
  name,
  heartbeatTime: ago(5),
  kernelSupported: true,
  partitions: reports,
  ...over,
});

const input = (over: Partial<ReconcileInput> = {}): ReconcileInput => ({
  partition: partition(),
  members: members(['a', 'b']),
  nodes: [],
  now,
  settings: { staleAfterMs: 120_000, releaseTimeoutMs: 300_000 },
  ...over,
});

const condition = (plan: ReturnType<typeof reconcile>, type: string) =>
  plan.status.conditions?.find((c) => c.type === type);

describe('reconcile: status', () => {
  it('sums the node reports of this partition only', () => {
    const plan = reconcile(
      input({
        nodes: [
          node('n1', [report({ lastMerge: ago(60) }), report({ name: 'other', pagesShared: 999 })]),
          node('n2', [
            report({ pagesShared: 5, pagesSharing: 7, savedBytes: 7 * 4096, lastMerge: ago(10) }),
          ]),
          node('n3', []),
        ],
      }),
    );
    expect(plan.status).toMatchObject({
      observedGeneration: 2,
      matchedPods: 2,
      nodes: 2,
      pagesShared: 15,
      pagesSharing: 37,
      savedBytes: 37 * 4096,
      savedMemory: '148Ki',
      lastMerge: ago(10),
      conflicts: [],
    });
  });

  it('is Ready with no conflicts and not Degraded when all is well, in a stable order', () => {
    const plan = reconcile(input({ nodes: [node('n1', [report()])] }));
    expect(plan.status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Reconciled'],
      ['Conflicted', 'False', 'NoConflicts'],
      ['Degraded', 'False', 'AsExpected'],
    ]);
  });

  it('lists conflicts (at most 20) and is Conflicted', () => {
    const many = Array.from({ length: 25 }, (_v, i) => `c${String(i).padStart(2, '0')}`);
    const plan = reconcile(input({ members: members(['a'], many) }));
    expect(plan.status.conflicts).toHaveLength(20);
    expect(plan.status.conflicts?.[0]).toEqual({
      namespace: 'ns',
      name: 'c00',
      partitions: ['other', 'tenant-a'],
    });
    expect(condition(plan, 'Conflicted')).toMatchObject({
      status: 'True',
      reason: 'PodsInSeveralPartitions',
    });
    expect(condition(plan, 'Conflicted')?.message).toMatch(
      /^25 pod\(s\) are selected by more than one partition/,
    );
    expect(plan.podEvents).toHaveLength(25);
    expect(plan.podEvents[0]).toMatchObject({
      type: 'Warning',
      reason: 'PartitionConflict',
      object: { kind: 'Pod', name: 'c00' },
    });
  });

  it('is not Ready when the spec selects nothing', () => {
    const p = partition({
      spec: {
        ...spec,
        podSelector: {
          matchExpressions: [
            { key: 'a', operator: 'In', values: ['x'] },
            { key: 'a', operator: 'DoesNotExist' },
          ],
        },
      },
    });
    expect(condition(reconcile(input({ partition: p })), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'SelectsNothing',
    });
  });

  it('is not Ready when the stored spec does not parse', () => {
    const p = partition({ spec: undefined, specError: 'bad' });
    expect(condition(reconcile(input({ partition: p })), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'InvalidSpec',
      message: 'bad',
    });
  });
});

describe('reconcile: Degraded', () => {
  it('names nodes that stopped reporting, and looks again when the next would', () => {
    const plan = reconcile(
      input({
        nodes: [
          node('n1', [report()], { heartbeatTime: ago(300) }),
          node('n2', [report()], { heartbeatTime: ago(100) }),
        ],
      }),
    );
    expect(condition(plan, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'NodesNotReporting',
    });
    expect(condition(plan, 'Degraded')?.message).toContain('n1');
    expect(condition(plan, 'Degraded')?.message).not.toContain('n2');
    expect(plan.requeueAfterMs).toBe(21_000);
  });

  it('reports merge errors with a sample', () => {
    const errors = [{ time: ago(1), reason: 'PermissionDenied', message: 'EPERM on pid 42' }];
    const plan = reconcile(input({ nodes: [node('n1', [report({ errors })])] }));
    expect(condition(plan, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'MergeErrors',
      message: 'merges fail on n1 (n1: PermissionDenied: EPERM on pid 42)',
    });
  });

  it('reports selected pods on nodes without kernel support', () => {
    const plan = reconcile(
      input({
        nodes: [node('old-kernel', [report({ pagesShared: 0 })], { kernelSupported: false })],
      }),
    );
    expect(condition(plan, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'KernelUnsupported',
    });
  });
});

describe('reconcile: finalizer and release', () => {
  it('adds the finalizer to a live partition that lacks it', () => {
    expect(reconcile(input({ partition: partition({ finalizers: [] }) })).finalizer).toBe('add');
    expect(reconcile(input()).finalizer).toBe('keep');
  });

  it('releases a deleted partition once no node lists it', () => {
    const p = partition({ deletionTimestamp: ago(1) });
    const plan = reconcile(
      input({ partition: p, nodes: [node('n1', [report({ name: 'other' })])] }),
    );
    expect(plan.finalizer).toBe('remove');
    expect(condition(plan, 'Ready')).toMatchObject({ status: 'False', reason: 'Released' });
  });

  it('holds a deleted partition while a node lists it, and checks again at the timeout', () => {
    const p = partition({ deletionTimestamp: ago(100) });
    const plan = reconcile(input({ partition: p, nodes: [node('n1', [report()])] }));
    expect(plan.finalizer).toBe('keep');
    expect(condition(plan, 'Ready')).toMatchObject({ status: 'False', reason: 'Releasing' });
    expect(condition(plan, 'Degraded')?.status).toBe('False');
    // The earlier deadline wins: n1 turns stale (115 s) before the release times out (200 s).
    expect(plan.requeueAfterMs).toBe(116_000);
  });

  it('says so, as Degraded, when release takes longer than the timeout', () => {
    const p = partition({ deletionTimestamp: ago(400) });
    const plan = reconcile(input({ partition: p, nodes: [node('n1', [report()])] }));
    expect(plan.finalizer).toBe('keep');
    expect(condition(plan, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'ReleaseTimedOut',
    });
    expect(condition(plan, 'Degraded')?.message).toContain('n1');
    expect(plan.events.map((e) => [e.type, e.reason])).toContainEqual([
      'Warning',
      'ReleaseTimedOut',
    ]);
  });
});

describe('reconcile: events', () => {
  it('sends none for a new partition that is fine', () => {
    expect(reconcile(input()).events).toEqual([]);
  });

  it('sends one per transition, and none when nothing changes', () => {
    const first = reconcile(input({ members: members(['a'], ['x']) }));
    expect(first.events.map((e) => [e.type, e.reason])).toEqual([
      ['Warning', 'PodsInSeveralPartitions'],
    ]);
    const stored = partition({ status: first.status, resourceVersion: '101' });
    expect(reconcile(input({ partition: stored, members: members(['a'], ['x']) })).events).toEqual(
      [],
    );
    const cleared = reconcile(input({ partition: stored, members: members(['a', 'x']) }));
    expect(cleared.events.map((e) => [e.type, e.reason])).toEqual([
      ['Normal', 'ConflictedCleared'],
    ]);
  });
});
