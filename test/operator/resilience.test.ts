import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminConfig, ControlPlane, installCrds } from '../controlplane/index.ts';
import { api, type OperatorProcess, startOperator } from './harness.ts';

// The apiserver goes away under a running operator and comes back: the
// operator's watches recover and it converges, without a restart of its own.

let plane: ControlPlane;
let op: OperatorProcess;
const poll = { timeout: 60_000, interval: 250 };

beforeAll(async () => {
  plane = await ControlPlane.start();
  await installCrds(adminConfig(plane.info));
  op = await startOperator(plane.info, {
    identity: 'op-resilient',
    leaseName: 'op-resilient',
    flags: ['--lease-duration=15s'],
  });
});

afterAll(async () => {
  await op?.process.stop();
  await plane?.stop();
});

describe('operator: apiserver restart', () => {
  it('recovers its watches and converges after the apiserver crashes and restarts', async () => {
    const k = api(adminConfig(plane.info));
    await k.createNamespace('resilient', { tenant: 'r' });
    await k.createPod('resilient', 'p1', {});
    await k.createPartition('resilient', { namespaceSelector: { matchLabels: { tenant: 'r' } } });
    await expect
      .poll(async () => (await k.getPartition('resilient')).status?.['matchedPods'], poll)
      .toBe(1);

    await plane.stopApiserver({ crash: true });
    await new Promise((r) => setTimeout(r, 3_000));
    await plane.restartApiserver();

    await k.createPod('resilient', 'p2', {});
    await expect
      .poll(async () => (await k.getPartition('resilient')).status?.['matchedPods'], poll)
      .toBe(2);
    expect(op.process.running).toBe(true);
    expect(await op.metrics()).toMatch(
      /^selective_ksm_operator_watch_restarts_total\{resource="pods",reason="error"\} [1-9]/m,
    );
  });
});
