import { AuthorizationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminConfig } from '../controlplane/index.ts';
import { api, installOperatorRbac, type OperatorProcess, startOperator } from './harness.ts';

// The real operator process, as its service account, against the real
// apiserver; every assertion reads objects back from the apiserver.

const poll = { timeout: 20_000, interval: 250 };
let op: OperatorProcess;
let k: ReturnType<typeof api>;

const condition = async (partition: string, type: string) =>
  (await k.getPartition(partition)).status?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  const info = inject('controlPlane');
  k = api(adminConfig(info));
  for (const [ns, tenant] of [
    ['op-a1', 'op-a'],
    ['op-a2', 'op-a'],
    ['op-b1', 'op-b'],
  ] as const) {
    await k.createNamespace(ns, { tenant });
  }
  await k.createPod('op-a1', 'web-1', { app: 'web' });
  await k.createPod('op-a1', 'db-1', { app: 'db' });
  await k.createPod('op-a2', 'web-2', { app: 'web' });
  await k.createPod('op-b1', 'web-3', { app: 'web' });
  op = await startOperator(info, {
    identity: 'op-main',
    leaseName: 'op-main',
    flags: [
      '--release-timeout=4s',
      '--lease-duration=4s',
      '--renew-deadline=3s',
      '--retry-period=1s',
    ],
  });
});

afterAll(async () => {
  await op?.process.stop();
});

describe('operator: selection', () => {
  it('counts the pods of the selected namespaces and adds its finalizer', async () => {
    await k.createPartition('op-tenant-a', {
      namespaceSelector: { matchLabels: { tenant: 'op-a' } },
    });
    await k.createPartition('op-web-b', {
      namespaceSelector: { matchLabels: { tenant: 'op-b' } },
      podSelector: { matchLabels: { app: 'web' } },
    });
    await expect
      .poll(async () => (await k.getPartition('op-tenant-a')).status?.['matchedPods'], poll)
      .toBe(3);
    await expect
      .poll(async () => (await k.getPartition('op-web-b')).status?.['matchedPods'], poll)
      .toBe(1);
    expect((await k.getPartition('op-tenant-a')).metadata.finalizers).toEqual([
      'selectiveksm.io/release',
    ]);
    expect(await condition('op-tenant-a', 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Reconciled',
    });
  });

  it('follows namespace labels', async () => {
    await k.labelNamespace('op-b1', { tenant: 'op-a' });
    await expect
      .poll(async () => (await k.getPartition('op-tenant-a')).status?.['matchedPods'], poll)
      .toBe(4);
    await expect
      .poll(async () => (await k.getPartition('op-web-b')).status?.['matchedPods'], poll)
      .toBe(0);
    await k.labelNamespace('op-b1', { tenant: 'op-b' });
    await expect
      .poll(async () => (await k.getPartition('op-web-b')).status?.['matchedPods'], poll)
      .toBe(1);
  });

  it('fails closed on a pod two partitions select, tells both and the pod, and clears it', async () => {
    await k.createPartition('op-all-web', {
      namespaceSelector: {
        matchExpressions: [{ key: 'tenant', operator: 'In', values: ['op-a', 'op-b'] }],
      },
      podSelector: { matchLabels: { app: 'web' } },
    });
    await expect
      .poll(async () => (await condition('op-tenant-a', 'Conflicted'))?.status, poll)
      .toBe('True');
    const a = await k.getPartition('op-tenant-a');
    expect(a.status?.['conflicts']).toEqual([
      { namespace: 'op-a1', name: 'web-1', partitions: ['op-all-web', 'op-tenant-a'] },
      { namespace: 'op-a2', name: 'web-2', partitions: ['op-all-web', 'op-tenant-a'] },
    ]);
    expect(a.status?.['matchedPods']).toBe(1);
    await expect
      .poll(async () => (await k.getPartition('op-all-web')).status?.['matchedPods'], poll)
      .toBe(0);
    expect((await condition('op-web-b', 'Conflicted'))?.status).toBe('True');

    const podEvents = async () =>
      (
        await k.core.listNamespacedEvent({
          namespace: 'op-a1',
          fieldSelector: 'involvedObject.name=web-1',
        })
      ).items.map((e) => e.reason);
    await expect.poll(podEvents, poll).toContain('PartitionConflict');

    await k.labelPod('op-a1', 'web-1', { app: 'cache' });
    await expect
      .poll(async () => (await k.getPartition('op-tenant-a')).status?.['matchedPods'], poll)
      .toBe(2);
    await k.deletePartition('op-all-web');
    await expect
      .poll(async () => (await condition('op-tenant-a', 'Conflicted'))?.status, poll)
      .toBe('False');
    expect((await k.getPartition('op-tenant-a')).status?.['conflicts']).toEqual([]);
    const partitionEvents = async () =>
      (
        await k.core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: 'involvedObject.name=op-tenant-a',
        })
      ).items.map((e) => e.reason);
    await expect
      .poll(partitionEvents, poll)
      .toEqual(expect.arrayContaining(['PodsInSeveralPartitions', 'ConflictedCleared']));
  });
});

describe('operator: status from KsmNode reports', () => {
  const report = (over: object) => ({
    name: 'op-tenant-a',
    pods: 2,
    processes: 3,
    pagesShared: 100,
    pagesSharing: 300,
    savedBytes: 300 * 4096,
    ...over,
  });

  it('adds up what the agents report', async () => {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const kernel = { selectiveKsm: true, release: '6.12.0-sksm' };
    await k.reportNode('op-node-1', {
      heartbeatTime: now,
      kernel,
      partitions: [report({ lastMerge: '2026-01-01T00:00:00Z' })],
    });
    await k.reportNode('op-node-2', {
      heartbeatTime: now,
      kernel,
      partitions: [
        report({
          pagesShared: 50,
          pagesSharing: 156,
          savedBytes: 156 * 4096,
          lastMerge: '2026-01-02T00:00:00Z',
        }),
      ],
    });
    await expect
      .poll(async () => (await k.getPartition('op-tenant-a')).status, poll)
      .toMatchObject({
        nodes: 2,
        pagesShared: 150,
        pagesSharing: 456,
        savedBytes: 456 * 4096,
        savedMemory: '1.78Mi',
        lastMerge: '2026-01-02T00:00:00Z',
      });
  });

  it('is Degraded while a node reports merge errors', async () => {
    await k.reportNode('op-node-2', {
      heartbeatTime: new Date().toISOString(),
      kernel: { selectiveKsm: true, release: '6.12.0-sksm' },
      partitions: [
        report({
          errors: [
            { time: new Date().toISOString(), reason: 'ProcessGone', message: 'pid 7 exited' },
          ],
        }),
      ],
    });
    await expect
      .poll(async () => (await condition('op-tenant-a', 'Degraded'))?.reason, poll)
      .toBe('MergeErrors');
    await k.deleteNode('op-node-2');
    await expect
      .poll(async () => (await condition('op-tenant-a', 'Degraded'))?.status, poll)
      .toBe('False');
    expect((await k.getPartition('op-tenant-a')).status?.['nodes']).toBe(1);
  });
});

describe('operator: deletion', () => {
  const heartbeat = () => new Date().toISOString();

  it('releases at once a partition no node holds', async () => {
    await k.createPartition('op-lonely', { podSelector: { matchLabels: { app: 'none' } } });
    await expect
      .poll(async () => (await k.getPartition('op-lonely')).metadata.finalizers, poll)
      .toEqual(['selectiveksm.io/release']);
    await k.deletePartition('op-lonely');
    await expect.poll(() => k.partitionExists('op-lonely'), poll).toBe(false);
  });

  it('holds a partition until the node that holds it lets go', async () => {
    await k.createPartition('op-held', { podSelector: { matchLabels: { app: 'web' } } });
    await expect
      .poll(async () => (await k.getPartition('op-held')).metadata.finalizers, poll)
      .toEqual(['selectiveksm.io/release']);
    const entry = {
      name: 'op-held',
      pods: 1,
      processes: 1,
      pagesShared: 1,
      pagesSharing: 1,
      savedBytes: 4096,
    };
    await k.reportNode('op-node-3', { heartbeatTime: heartbeat(), partitions: [entry] });
    await k.deletePartition('op-held');
    await expect
      .poll(async () => (await condition('op-held', 'Ready'))?.reason, poll)
      .toBe('Releasing');
    expect(await k.partitionExists('op-held')).toBe(true);
    await k.reportNode('op-node-3', { heartbeatTime: heartbeat(), partitions: [] });
    await expect.poll(() => k.partitionExists('op-held'), poll).toBe(false);
  });

  it('reports a node that never lets go, and stops waiting for it once its KsmNode is gone', async () => {
    await k.createPartition('op-stuck', { podSelector: { matchLabels: { app: 'web' } } });
    await expect
      .poll(async () => (await k.getPartition('op-stuck')).metadata.finalizers, poll)
      .toEqual(['selectiveksm.io/release']);
    const entry = {
      name: 'op-stuck',
      pods: 1,
      processes: 1,
      pagesShared: 1,
      pagesSharing: 1,
      savedBytes: 4096,
    };
    await k.reportNode('op-node-4', { heartbeatTime: heartbeat(), partitions: [entry] });
    await k.deletePartition('op-stuck');
    await expect
      .poll(async () => (await condition('op-stuck', 'Degraded'))?.reason, poll)
      .toBe('ReleaseTimedOut');
    expect((await condition('op-stuck', 'Degraded'))?.message).toContain('op-node-4');
    const events = async () =>
      (
        await k.core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: 'involvedObject.name=op-stuck',
        })
      ).items.map((e) => `${e.type}/${e.reason}`);
    await expect.poll(events, poll).toContain('Warning/ReleaseTimedOut');
    await k.deleteNode('op-node-4');
    await expect.poll(() => k.partitionExists('op-stuck'), poll).toBe(false);
  });
});

describe('operator: runs with least privilege', () => {
  it('its service account can do its job and nothing more', async () => {
    const info = inject('controlPlane');
    const sa = new KubeConfig();
    sa.loadFromFile(await installOperatorRbac(info, 'op-main'));
    const authz = sa.makeApiClient(AuthorizationV1Api);
    const can = async (verb: string, resource: string, group = '', namespace?: string) =>
      (
        await authz.createSelfSubjectAccessReview({
          body: {
            spec: {
              resourceAttributes: { verb, resource, group, ...(namespace ? { namespace } : {}) },
            },
          },
        })
      ).status?.allowed;
    expect(await can('watch', 'pods')).toBe(true);
    expect(await can('patch', 'ksmpartitions/status', 'selectiveksm.io')).toBe(true);
    expect(await can('get', 'pods')).toBe(false);
    expect(await can('list', 'secrets')).toBe(false);
    expect(await can('create', 'ksmnodes', 'selectiveksm.io')).toBe(false);
    expect(await can('patch', 'ksmnodes/status', 'selectiveksm.io')).toBe(false);
    expect(await can('delete', 'ksmpartitions', 'selectiveksm.io')).toBe(false);
    expect(await can('update', 'leases', 'coordination.k8s.io', 'kube-system')).toBe(false);
    // It really is not admin: reading a secret fails.
    await expect(
      sa.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'default' }),
    ).rejects.toMatchObject({ code: 403 });
  });

  it('exports metrics about its work', async () => {
    const text = await op.metrics();
    expect(text).toMatch(/^selective_ksm_operator_reconciles_total\{result="success"\} [1-9]/m);
    expect(text).toMatch(/^selective_ksm_operator_leader 1$/m);
    expect(text).toMatch(
      /^selective_ksm_operator_partitions\{condition="Ready",status="True"\} [1-9]/m,
    );
    expect(text).toContain('selective_ksm_operator_reconcile_duration_seconds_bucket');
  });
});
