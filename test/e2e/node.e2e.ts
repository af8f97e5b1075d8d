import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '@selective-ksm/crds';
import { Rest } from '@selective-ksm/kube';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_NAME, agentClusterRules } from '../../node-agent/src/rbac.ts';
import { alertRules, dashboardQueries, JOBS } from '../chart/promql.ts';
import {
  adminConfig,
  ControlPlane,
  freePort,
  installCrds,
  installServiceAccount,
  kubeRequest,
  type OwnedProcess,
  type Prometheus,
  startPrometheus,
  waitFor,
} from '../controlplane/index.ts';
import { api } from '../controlplane/objects.ts';
import { type OperatorProcess, startOperator } from '../operator/harness.ts';
import type { GuestPlan } from './guest.ts';
import { pageStats } from './pagemap.ts';

import {
  expectedSharing,
  type ImageStats,
  NODE,
  namespaces,
  partitions,
  pods,
} from './scenario.ts';
import { bootVm, guest, prepareRun, repo, vmKubeconfig } from './vm.ts';

// The whole system on one machine: the real control plane and operator on
// the host; the patched kernel in a qemu VM running the real agent and the
// workloads in kubelet-style cgroups; a real Prometheus scraping both.

const poll = { timeout: 600_000, interval: 2_000 };
/** Pages besides the image that a VM-like process may also merge (its stack, tails). */
const TOLERANCE_PAGES = 64;

let plane: ControlPlane;
let operator: OperatorProcess;
let prom: Prometheus;
let vm: OwnedProcess;
let rest: Rest;
let k: ReturnType<typeof api>;
let image: ImageStats;
/** Container key (podUid/container) → pod. */
const keyOf = new Map<string, string>();

interface NodeReport {
  name: string;
  pods: number;
  pagesShared: number;
  pagesSharing: number;
  savedBytes: number;
  errors?: unknown[];
}

async function report(partition: string): Promise<NodeReport | undefined> {
  const node = await k.getNode(NODE).catch(() => undefined);
  return node?.status?.partitions?.find((p) => p.name === partition) as NodeReport | undefined;
}

const sharing = async (partition: string) => (await report(partition))?.pagesSharing ?? 0;

/** At least what the duplicates allow, and at most a few pages more. */
function near(expected: number) {
  return (n: number) => n >= expected && n <= expected + TOLERANCE_PAGES;
}

/** Container key → the partition that should hold it now, for the isolation check. */
async function partitionsNow(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, pod] of keyOf) {
    const p = await k.core.readNamespacedPod({
      namespace: pod.split('/')[0] ?? '',
      name: pod.split('/')[1] ?? '',
    });
    const labels = p.metadata?.labels ?? {};
    if (labels['team'] === 'batch') continue;
    out[key] = pod.startsWith('shop/') ? 'shop' : `tenant-${labels['tenant']}`;
  }
  return out;
}

beforeAll(async () => {
  execFileSync(process.execPath, [join(repo, 'hack/build.ts')], { stdio: 'inherit' });
  plane = await ControlPlane.start({ progress: (l) => console.log(l) });
  const kc = adminConfig(plane.info);
  await installCrds(kc);
  rest = new Rest(kc, 'e2e');
  k = api(kc);
  operator = await startOperator(plane.info, { identity: 'e2e-operator', leaseName: 'e2e' });

  await k.createNode(NODE);
  for (const [name, labels] of Object.entries(namespaces)) await k.createNamespace(name, labels);
  const run = await prepareRun('node');
  image = pageStats([await readFile(run.imageFile)]);
  console.log(`guest image: ${image.pages} pages, ${image.distinct} distinct`);

  const containers: GuestPlan['containers'] = [];
  for (const p of pods) {
    const name = p.workload.kind === 'guest-image' ? 'compute' : 'app';
    const id = randomBytes(32).toString('hex');
    const created = await k.createRunningPod(p.namespace, p.name, {
      nodeName: NODE,
      labels: p.labels,
      containers: [{ name, containerID: `containerd://${id}` }],
    });
    const key = `${created.metadata?.uid}/${name}`;
    keyOf.set(key, `${p.namespace}/${p.name}`);
    containers.push({
      key,
      podUid: created.metadata?.uid ?? '',
      qos: p.qos,
      containerId: id,
      workload: p.workload,
    });
  }
  for (const p of partitions) await k.createPartition(p.name, p.spec);

  const apiPort = Number(new URL(plane.info.server).port);
  const agentKubeconfig = join(run.dir, 'agent.kubeconfig');
  const adminKubeconfig = join(run.dir, 'admin.kubeconfig');
  await vmKubeconfig(
    await installServiceAccount(plane.info, {
      namespace: 'selective-ksm',
      name: AGENT_NAME,
      clusterRules: agentClusterRules,
    }),
    agentKubeconfig,
    apiPort,
  );
  await vmKubeconfig(plane.info.kubeconfig, adminKubeconfig, apiPort);
  const metricsPort = await freePort();
  // The job names the chart's ServiceMonitors give, which its alerts use.
  prom = await startPrometheus(join(run.dir, 'prometheus'), {
    [JOBS.operator]: [new URL(operator.metricsUrl).host],
    [JOBS.agent]: [`127.0.0.1:${metricsPort}`],
  });
  vm = await bootVm({
    run,
    apiPort,
    metricsPort,
    logFile: join(run.dir, 'vm.log'),
    plan: {
      node: NODE,
      nodeBin: process.execPath,
      repo,
      guestImageBin: run.guestImageBin,
      imageFile: run.imageFile,
      agentKubeconfig,
      adminKubeconfig,
      containers,
    },
  });
  await waitFor(
    'the guest to be ready',
    async () => {
      if (!vm.running) throw new Error(`the VM stopped; see ${join(run.dir, 'console.log')}`);
      const res = await kubeRequest(kc, '/api/v1/namespaces/default/configmaps/e2e-guest-result');
      return res.status === 200;
    },
    poll.timeout,
    1000,
  );
}, 1_200_000);

afterAll(async () => {
  if (vm?.running) {
    await guest(rest, { name: 'shutdown' }, 120_000).catch(() => undefined);
    const code = await Promise.race([
      vm.waitExit(),
      new Promise((r) => setTimeout(() => r('timeout'), 120_000)),
    ]);
    if (code !== 0) await vm.stop();
    expect(code, 'the VM shut down cleanly with no kernel warning').toBe(0);
  }
  await prom?.process.stop();
  await operator?.process.stop();
  rest?.close();
  await plane?.stop();
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
    for (const name of ['tenant-a', 'tenant-b', 'shop']) {
      const node = await report(name);
      await expect
        .poll(async () => (await k.getPartition(name)).status, poll)
        .toMatchObject({
          savedBytes: node?.savedBytes,
          savedMemory: formatBytes(node?.savedBytes ?? 0),
        });
      const m = await prom.query(`selective_ksm_partition_saved_bytes{partition="${name}"}`);
      await expect
        .poll(
          async () =>
            Number(
              (await prom.query(`selective_ksm_partition_saved_bytes{partition="${name}"}`))[0]
                ?.value[1],
            ),
          poll,
        )
        .toBe(node?.savedBytes);
      expect(m.length).toBeLessThanOrEqual(1);
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
    // tenant-a and batch both select vm-x.
    const conflicted = (await alertRules()).find(
      (r) => r.alert === 'SelectiveKsmPartitionConflicted',
    );
    await expect
      .poll(
        async () =>
          (await prom.query(conflicted?.expr ?? 'absent(up)'))
            .map((x) => x.metric['partition'])
            .sort(),
        poll,
      )
      .toEqual(['batch', 'tenant-a']);
  });

  it('never shares a frame between two partitions', async () => {
    const result = await guest<{
      crossPartitionCount: number;
      ksmFrames: Record<string, number>;
      frames: number;
    }>(rest, {
      name: 'isolation',
      partitions: await partitionsNow(),
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
      partitions: await partitionsNow(),
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
      partitions: await partitionsNow(),
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
