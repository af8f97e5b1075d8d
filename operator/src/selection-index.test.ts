import { describe, expect, it } from 'vitest';
import { SelectionIndex } from './selection-index.ts';

const pod = (uid: string, namespace: string, labels: Record<string, string> = {}) => ({
  uid,
  namespace,
  name: `pod-${uid}`,
  labels,
});

function world() {
  const idx = new SelectionIndex();
  idx.setNamespace('ns-a', { tenant: 'a' });
  idx.setNamespace('ns-b', { tenant: 'b' });
  idx.setPod(pod('1', 'ns-a', { app: 'web' }));
  idx.setPod(pod('2', 'ns-a', { app: 'db' }));
  idx.setPod(pod('3', 'ns-b', { app: 'web' }));
  return idx;
}

const names = (pods: { name: string }[]) => pods.map((p) => p.name);

describe('SelectionIndex', () => {
  it('assigns existing pods when a partition appears, and reports it affected', () => {
    const idx = world();
    const affected = idx.setPartition({
      name: 'a',
      spec: { namespaceSelector: { matchLabels: { tenant: 'a' } } },
    });
    expect([...affected]).toEqual(['a']);
    expect(names(idx.membersOf('a').matched)).toEqual(['pod-1', 'pod-2']);
  });

  it('moves pods when a namespace is relabelled, touching only that namespace', () => {
    const idx = world();
    idx.setPartition({ name: 'a', spec: { namespaceSelector: { matchLabels: { tenant: 'a' } } } });
    idx.setPartition({ name: 'b', spec: { namespaceSelector: { matchLabels: { tenant: 'b' } } } });
    const affected = idx.setNamespace('ns-b', { tenant: 'a' });
    expect([...affected].sort()).toEqual(['a', 'b']);
    expect(names(idx.membersOf('a').matched)).toEqual(['pod-1', 'pod-2', 'pod-3']);
    expect(idx.membersOf('b').matched).toEqual([]);
  });

  it('reports a pod selected twice as a conflict of both, and clears it', () => {
    const idx = world();
    idx.setPartition({ name: 'a', spec: { namespaceSelector: { matchLabels: { tenant: 'a' } } } });
    idx.setPartition({ name: 'web', spec: { podSelector: { matchLabels: { app: 'web' } } } });
    expect(idx.membersOf('a').conflicts).toEqual([
      { pod: pod('1', 'ns-a', { app: 'web' }), partitions: ['a', 'web'] },
    ]);
    expect(names(idx.membersOf('a').matched)).toEqual(['pod-2']);
    expect(names(idx.membersOf('web').matched)).toEqual(['pod-3']);

    const affected = idx.setPod(pod('1', 'ns-a', { app: 'cache' }));
    expect([...affected].sort()).toEqual(['a', 'web']);
    expect(idx.membersOf('web').conflicts).toEqual([]);
    expect(names(idx.membersOf('a').matched)).toEqual(['pod-1', 'pod-2']);
  });

  it('reports nothing affected by a label change that moves no pod', () => {
    const idx = world();
    idx.setPartition({ name: 'a', spec: { namespaceSelector: { matchLabels: { tenant: 'a' } } } });
    expect(idx.setPod(pod('2', 'ns-a', { app: 'db', extra: 'x' })).size).toBe(0);
  });

  it('drops deleted pods and partitions', () => {
    const idx = world();
    idx.setPartition({ name: 'a', spec: { namespaceSelector: { matchLabels: { tenant: 'a' } } } });
    expect([...idx.deletePod('1')]).toEqual(['a']);
    expect(names(idx.membersOf('a').matched)).toEqual(['pod-2']);
    idx.deletePartition('a');
    expect(idx.membersOf('a').matched).toEqual([]);
  });

  it('selects nothing by namespace for pods of an unknown namespace', () => {
    const idx = new SelectionIndex();
    idx.setPartition({ name: 'all', spec: { namespaceSelector: {} } });
    idx.setPod(pod('9', 'later'));
    expect(idx.membersOf('all').matched).toEqual([]);
    expect([...idx.setNamespace('later', {})]).toEqual(['all']);
    expect(names(idx.membersOf('all').matched)).toEqual(['pod-9']);
  });
});
