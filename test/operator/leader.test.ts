import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { adminConfig } from '../controlplane/index.ts';
import { api, OPERATOR_NAMESPACE, type OperatorProcess, startOperator } from './harness.ts';

// Two replicas, one Lease: only the holder reconciles; when it dies the other
// takes over within the lease duration; a clean stop hands the lease over.

const leaseName = 'op-ha';
const leaseSeconds = 4;
const flags = [`--lease-duration=${leaseSeconds}s`, '--renew-deadline=3s', '--retry-period=500ms'];
const poll = { timeout: 20_000, interval: 100 };
const operators: OperatorProcess[] = [];

afterAll(async () => {
  await Promise.all(operators.map((o) => o.process.stop()));
});

const reconciles = async (o: OperatorProcess) => {
  const m = /^selective_ksm_operator_reconciles_total\{result="success"\} (\d+)/m.exec(
    await o.metrics(),
  );
  return Number(m?.[1] ?? 0);
};

describe('operator: leader election', () => {
  it('lets exactly one replica act, fails over when it dies, and hands over on a clean stop', async () => {
    const info = inject('controlPlane');
    const leases = adminConfig(info).makeApiClient(CoordinationV1Api);
    const holder = async () =>
      (
        await leases
          .readNamespacedLease({ namespace: OPERATOR_NAMESPACE, name: leaseName })
          .catch(() => undefined)
      )?.spec?.holderIdentity;
    const k = api(adminConfig(info));

    operators.push(await startOperator(info, { identity: 'op-ha-1', leaseName, flags }));
    operators.push(await startOperator(info, { identity: 'op-ha-2', leaseName, flags }));
    await expect.poll(holder, poll).toMatch(/^op-ha-[12]$/);
    const leaderId = await holder();
    const leader = operators.find((o) => o.identity === leaderId) as OperatorProcess;
    const follower = operators.find((o) => o.identity !== leaderId) as OperatorProcess;

    await k.createPartition('op-ha-1', { podSelector: { matchLabels: { app: 'ha' } } });
    await expect
      .poll(async () => (await k.getPartition('op-ha-1')).status?.['observedGeneration'], poll)
      .toBe(1);
    await expect.poll(() => follower.metrics(), poll).toMatch(/^selective_ksm_operator_leader 0$/m);
    expect(await leader.metrics()).toMatch(/^selective_ksm_operator_leader 1$/m);
    expect(await reconciles(leader)).toBeGreaterThan(0);
    expect(await reconciles(follower)).toBe(0);

    leader.process.kill('SIGKILL');
    const killedAt = Date.now();
    await expect.poll(holder, poll).toBe(follower.identity);
    const failoverMs = Date.now() - killedAt;
    console.log(`failover after SIGKILL of the leader: ${failoverMs} ms (lease ${leaseSeconds} s)`);
    // It waits one lease duration from its last sight of a renewal, plus one retry period.
    expect(failoverMs).toBeLessThanOrEqual(leaseSeconds * 1000 + 3_000);

    await k.createPartition('op-ha-2', { podSelector: { matchLabels: { app: 'ha' } } });
    await expect
      .poll(async () => (await k.getPartition('op-ha-2')).status?.['observedGeneration'], poll)
      .toBe(1);

    await follower.process.stop();
    expect(await holder()).toBe('');
    for (const name of ['op-ha-1', 'op-ha-2']) await k.deletePartition(name);
  });
});
