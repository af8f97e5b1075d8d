import { describe, expect, it } from 'vitest';
import {
  assignPod,
  assignPods,
  type PartitionSelection,
  partitionSelects,
  selectedContainers,
} from './selection.ts';

const pod = { namespace: 'shop', name: 'web-1', uid: 'u1', labels: { app: 'web' } };
const nsLabels = { tenant: 'a' };

const byNamespace: PartitionSelection = {
  name: 'tenant-a',
  spec: { namespaceSelector: { matchLabels: { tenant: 'a' } } },
};
const byPod: PartitionSelection = {
  name: 'web',
  spec: { podSelector: { matchLabels: { app: 'web' } } },
};
const other: PartitionSelection = {
  name: 'tenant-b',
  spec: { namespaceSelector: { matchLabels: { tenant: 'b' } } },
};

describe('partitionSelects', () => {
  it('needs both the namespace and the pod selector to match', () => {
    const both: PartitionSelection = {
      name: 'p',
      spec: {
        namespaceSelector: { matchLabels: { tenant: 'a' } },
        podSelector: { matchLabels: { app: 'db' } },
      },
    };
    expect(partitionSelects(both, pod, nsLabels)).toBe(false);
    expect(partitionSelects(both, { ...pod, labels: { app: 'db' } }, nsLabels)).toBe(true);
  });

  it('an omitted selector does not constrain', () => {
    expect(partitionSelects(byPod, pod, undefined)).toBe(true);
    expect(partitionSelects(byNamespace, { ...pod, labels: {} }, nsLabels)).toBe(true);
  });

  it('selects nothing by namespace when the namespace is unknown (fail closed)', () => {
    expect(partitionSelects(byNamespace, pod, undefined)).toBe(false);
    const everyNamespace: PartitionSelection = { name: 'all', spec: { namespaceSelector: {} } };
    expect(partitionSelects(everyNamespace, pod, undefined)).toBe(false);
    expect(partitionSelects(everyNamespace, pod, {})).toBe(true);
  });
});

describe('assignPod', () => {
  it('assigns a pod selected by exactly one partition', () => {
    expect(assignPod(pod, nsLabels, [byNamespace, other])).toEqual({
      kind: 'partition',
      partition: 'tenant-a',
    });
  });

  it('assigns nothing when no partition selects the pod', () => {
    expect(assignPod(pod, { tenant: 'c' }, [byNamespace, other])).toEqual({ kind: 'none' });
    expect(assignPod(pod, nsLabels, [])).toEqual({ kind: 'none' });
  });

  it('reports a conflict, names sorted, when two partitions select the pod', () => {
    expect(assignPod(pod, nsLabels, [byPod, byNamespace, other])).toEqual({
      kind: 'conflict',
      partitions: ['tenant-a', 'web'],
    });
  });

  it('assigns many pods by UID with their own namespaces', () => {
    const pods = [pod, { ...pod, namespace: 'b-ns', uid: 'u2', labels: {} }];
    const namespaces = new Map([
      ['shop', nsLabels],
      ['b-ns', { tenant: 'b' }],
    ]);
    expect(assignPods(pods, namespaces, [byNamespace, other])).toEqual(
      new Map([
        ['u1', { kind: 'partition', partition: 'tenant-a' }],
        ['u2', { kind: 'partition', partition: 'tenant-b' }],
      ]),
    );
  });
});

describe('selectedContainers', () => {
  it('keeps every container when the partition names none', () => {
    expect(selectedContainers(byPod, ['compute', 'sidecar'])).toEqual(['compute', 'sidecar']);
  });

  it('keeps only the named containers, in pod order', () => {
    const p: PartitionSelection = {
      name: 'vm',
      spec: { podSelector: {}, containers: ['compute', 'x'] },
    };
    expect(selectedContainers(p, ['sidecar', 'compute'])).toEqual(['compute']);
  });
});
