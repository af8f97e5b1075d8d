import { formatBytes } from '@selective-ksm/crds';
import type { Rest } from '@selective-ksm/kube';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertRules, dashboardQueries } from '../chart/promql.ts';
import type { Prometheus } from '../controlplane/index.ts';
import type { api } from '../controlplane/objects.ts';
import { type Environment, startEnvironment } from './environment.ts';
import { expectedSharing, type ImageStats } from './scenario.ts';
import { guest } from './vm.ts';

// The whole system on one machine: the real control plane and operator on
// the host; the patched kernel in a qemu VM running the real agent and the
// workloads in kubelet-style cgroups; a real Prometheus scraping both.

const poll = { timeout: 600_000, interval: 2_000 };
/** Pages besides the image that a VM-like process may also merge (its stack, tails). */
const TOLERANCE_PAGES = 64;

let env: Environment;
let prom: Prometheus;
let rest: Rest;
let k: ReturnType<typeof api>;
let image: ImageStats;

const report = (partition: string) => env.report(partition);
const sharing = async (partition: string) => (await report(partition))?.pagesSharing ?? 0;

/** At least what the duplicates allow, and at most a few pages more. */
function near(expected: number) {
  return (n: number) => n >= expected && n <= expected + TOLERANCE_PAGES;
}

beforeAll(async () => {
  env = await startEnvironment((line) => console.log(line));
  ({ prom, rest, k, image } = env);
  console.log(`guest image: ${image.pages} pages, ${image.distinct} distinct`);
}, 1_200_000);

afterAll(async () => {
  if (env) expect(await env.stop(), 'the VM shut down cleanly with no kernel warning').toBe(0);
}, 300_000);

describe('a node in a VM, end to end', () => {
  it('each partition saves what its duplicates allow, and every report agrees', async () => {
    await expect.poll(() => sharing('tenant-a'), poll).toSatisfy(near(expectedSharing(3, image)));
    await expect.poll(() => sharing('tenant-b'), poll).toSatisfy(near(expectedSharing(2, image)));
    await expect.poll(() => sharing('shop'), poll).toBeGreaterThan(0);
    for (const name of ['tenant-a', 'tenant-b', 'shop']) {
      const r = await report(name);
      console.log(
        `${name}: ${r?.pods} pods, pages shared ${r?.pagesShared}, sharing ${r?.pagesSharing} (${formatBytes(r?.savedBytes ?? 0)} saved)`,
      );
    }
    console.log(
      `expected sharing: tenant-a ${expectedSharing(3, image)}, tenant-b ${expectedSharing(2, image)}`,
    );
    // Each pair read together: the shop's figures move at every re-merge.
    for (const name of ['tenant-a', 'tenant-b', 'shop']) {
      await expect
        .poll(async () => {
          const saved = (await report(name))?.savedBytes ?? -1;
          const status = (await k.getPartition(name)).status;
          return status?.['savedBytes'] === saved && status['savedMemory'] === formatBytes(saved);
        }, poll)
        .toBe(true);
      await expect
        .poll(async () => {
          const saved = (await report(name))?.savedBytes ?? -1;
          const series = await prom.query(
            `selective_ksm_partition_saved_bytes{partition="${name}"}`,
          );
          return series.length === 1 && Number(series[0]?.value[1]) === saved;
        }, poll)
        .toBe(true);
    }
  });

  it("evaluates the chart's dashboard and alerts on the real node, savings in view", async () => {
    for (const q of await dashboardQueries()) await prom.query(q.expr);
    for (const rule of await alertRules()) await prom.query(rule.expr);
    const saved = await prom.query('sum by (partition) (selective_ksm_partition_saved_bytes)');
    expect(saved.map((x) => x.metric['partition'])).toEqual(
      expect.arrayContaining(['shop', 'tenant-a', 'tenant-b']),
    );
    const unsupported = await prom.query(
      'count(selective_ksm_agent_kernel_supported == 0) or vector(0)',
    );
    expect(unsupported.map((x) => x.value[1])).toEqual(['0']);
    // tenant-a and batch both select vm-x: the alert counts two partitions.
    const conflicted = (await alertRules()).find(
      (r) => r.alert === 'SelectiveKsmPartitionConflicted',
    );
    await expect
      .poll(
        async () => (await prom.query(conflicted?.expr ?? 'absent(up)')).map((x) => x.value[1]),
        poll,
      )
      .toEqual(['2']);
  });

  it('never shares a frame between two partitions', async () => {
    const result = await guest<{
      crossPartitionCount: number;
      ksmFrames: Record<string, number>;
      frames: number;
    }>(rest, {
      name: 'isolation',
      partitions: await env.partitionsNow(),
    });
    expect(result.frames).toBeGreaterThan(10_000);
    expect(result.crossPartitionCount).toBe(0);
    expect(result.ksmFrames['tenant-a']).toBeGreaterThan(0);
    expect(result.ksmFrames['tenant-b']).toBeGreaterThan(0);
  });

  it('merges the pod two partitions select in neither, and both say so', async () => {
    for (const name of ['tenant-a', 'batch']) {
      await expect
        .poll(async () => (await k.getPartition(name)).status?.['conflicts'], poll)
        .toEqual([{ namespace: 'vms', name: 'vm-x', partitions: ['batch', 'tenant-a'] }]);
    }
    expect((await report('batch'))?.pagesSharing ?? 0).toBe(0);
  });

  it('moves a relabelled pod from tenant-a to tenant-b', async () => {
    await k.labelPod('vms', 'vm-a3', { 'kubevirt.io': 'virt-launcher', tenant: 'b' });
    await expect.poll(() => sharing('tenant-a'), poll).toSatisfy(near(expectedSharing(2, image)));
    await expect.poll(() => sharing('tenant-b'), poll).toSatisfy(near(expectedSharing(3, image)));
    const result = await guest<{ crossPartitionCount: number }>(rest, {
      name: 'isolation',
      partitions: await env.partitionsNow(),
    });
    expect(result.crossPartitionCount).toBe(0);
  });

  it('converges after the agent is killed mid-merge, with nothing merged twice or left behind', async () => {
    await k.labelPod('vms', 'vm-a3', { 'kubevirt.io': 'virt-launcher', tenant: 'a' });
    await new Promise((r) => setTimeout(r, 3_000));
    await guest(rest, { name: 'kill-agent' });
    await guest(rest, { name: 'start-agent' });
    await expect.poll(() => sharing('tenant-a'), poll).toSatisfy(near(expectedSharing(3, image)));
    await expect.poll(() => sharing('tenant-b'), poll).toSatisfy(near(expectedSharing(2, image)));
    const result = await guest<{ crossPartitionCount: number }>(rest, {
      name: 'isolation',
      partitions: await env.partitionsNow(),
    });
    expect(result.crossPartitionCount).toBe(0);
  });

  it('unmerges a deleted partition, giving its pages back their own frames, and releases it', async () => {
    const saved = (await report('tenant-b'))?.savedBytes ?? 0;
    expect(saved).toBeGreaterThan(0);
    const before = await guest<{ anonPagesKiB: number }>(rest, { name: 'memory' });
    await k.deletePartition('tenant-b');
    await expect.poll(() => k.partitionExists('tenant-b'), poll).toBe(false);
    expect(await report('tenant-b')).toBeUndefined();
    const after = await guest<{ anonPagesKiB: number }>(rest, { name: 'memory' });
    // Each page that shared a frame has one of its own again.
    expect((after.anonPagesKiB - before.anonPagesKiB) * 1024).toBeGreaterThan(saved * 0.8);
  });
});
