import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AGENT_NAME, agentClusterRules } from '../../node-agent/src/rbac.ts';
import { adminConfig, installServiceAccount, type OwnedProcess } from '../controlplane/index.ts';
import { api } from '../controlplane/objects.ts';
import { RequestLog } from '../fixtures/fake-kernel.ts';
import { type FixturePod, sampleMaps, writeHost } from '../fixtures/host.ts';
import { startAgent } from './harness.ts';

// The real agent process against the real apiserver, on a fixture host: a
// folder laid out as a node's /proc and /sys, whose Selective KSM files
// record what the agent asks of the kernel.

const poll = { timeout: 30_000, interval: 250 };
const hexId = (c: string) => c.repeat(64);
const ids = {
  web1app: hexId('1'),
  web1side: hexId('2'),
  web2app: hexId('3'),
  tool: hexId('4'),
  old: hexId('5'),
  squat: hexId('6'),
};
const pids = { web1app: 1101, web1side: 1102, web2app: 1201, tool: 1301, old: 2101, squat: 1401 };

let k: ReturnType<typeof api>;
let agentKubeconfig: string;
let root: string;
let oldRoot: string;
const agents: OwnedProcess[] = [];
const logs: Record<string, RequestLog> = {};
const metricsPorts: number[] = [];

async function launch(node: string, hostRoot: string, kubeconfig: string): Promise<number> {
  const a = await startAgent({ node, hostRoot, kubeconfig, logDir: join(hostRoot, '..') });
  agents.push(a.process);
  return Number(new URL(a.metricsUrl).port);
}

beforeAll(async () => {
  const info = inject('controlPlane');
  k = api(adminConfig(info));
  const base = await mkdtemp(join(tmpdir(), 'sksm-agent-'));
  root = join(base, 'host');
  oldRoot = join(base, 'old-host');
  await k.createNode('ag-node');
  await k.createNode('ag-old');
  await k.createNamespace('ag-a', { tenant: 'ag-a' });
  await k.createNamespace('ag-b', { tenant: 'ag-b' });
  const run = (
    name: string,
    node: string,
    labels: Record<string, string>,
    containers: [string, string][],
    hostPID = false,
    namespace = 'ag-a',
  ) =>
    k.createRunningPod(namespace, name, {
      nodeName: node,
      labels,
      hostPID,
      containers: containers.map(([c, id]) => ({ name: c, containerID: `containerd://${id}` })),
    });
  const web1 = await run('web-1', 'ag-node', { tier: 'web' }, [
    ['app', ids.web1app],
    ['sidecar', ids.web1side],
  ]);
  const web2 = await run('web-2', 'ag-node', { tier: 'web' }, [['app', ids.web2app]]);
  const tool = await run('tool', 'ag-node', { tier: 'web' }, [['app', ids.tool]], true);
  const old = await run('old-1', 'ag-old', { tier: 'web' }, [['app', ids.old]]);
  const squat = await run('squat-1', 'ag-node', {}, [['app', ids.squat]], false, 'ag-b');

  const proc = (pid: number) => ({ pid, maps: sampleMaps() });
  const c = (id: string, pid: number) => ({
    ref: { runtime: 'containerd' as const, id },
    processes: [proc(pid)],
  });
  const pods: FixturePod[] = [
    {
      uid: web1.metadata?.uid ?? '',
      qos: 'Burstable',
      containers: [c(ids.web1app, pids.web1app), c(ids.web1side, pids.web1side)],
    },
    {
      uid: web2.metadata?.uid ?? '',
      qos: 'BestEffort',
      containers: [c(ids.web2app, pids.web2app)],
    },
    { uid: tool.metadata?.uid ?? '', qos: 'Guaranteed', containers: [c(ids.tool, pids.tool)] },
    { uid: squat.metadata?.uid ?? '', qos: 'BestEffort', containers: [c(ids.squat, pids.squat)] },
  ];
  await writeHost(root, {
    driver: 'systemd',
    cgroupView: 'namespaced',
    pods,
    partitions: {
      'ag-tenant-a': { pagesShared: 12, pagesSharing: 34, mergedProcesses: 2 },
      'ag-gone': { pagesShared: 1, pagesSharing: 1 },
      // Made first by somebody else, under the name a KsmPartition uses
      'ag-squat': { pagesShared: 0, pagesSharing: 0, owner: '1000 1000', mode: '0666' },
    },
  });
  await writeHost(oldRoot, {
    driver: 'cgroupfs',
    pods: [{ uid: old.metadata?.uid ?? '', qos: 'Burstable', containers: [c(ids.old, pids.old)] }],
  });
  const ksm = join(root, 'sys/kernel/mm/ksm');
  logs['merge'] = await RequestLog.listen(join(ksm, 'partition/ag-tenant-a/merge'));
  logs['unmerge'] = await RequestLog.listen(join(ksm, 'partition/ag-tenant-a/unmerge'));
  logs['squat'] = await RequestLog.listen(join(ksm, 'partition/ag-squat/merge'));
  logs['remove'] = await RequestLog.listen(join(ksm, 'control/remove_partition'), (name) =>
    rm(join(ksm, 'partition', name), { recursive: true, force: true }),
  );

  await k.createPartition('ag-tenant-a', {
    namespaceSelector: { matchLabels: { tenant: 'ag-a' } },
    podSelector: { matchLabels: { tier: 'web' } },
    containers: ['app'],
  });
  await k.createPartition('ag-squat', {
    namespaceSelector: { matchLabels: { tenant: 'ag-b' } },
  });
  agentKubeconfig = await installServiceAccount(info, {
    namespace: 'selective-ksm',
    name: AGENT_NAME,
    clusterRules: agentClusterRules,
  });
  metricsPorts.push(await launch('ag-node', root, agentKubeconfig));
  metricsPorts.push(await launch('ag-old', oldRoot, agentKubeconfig));
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const log of Object.values(logs)) await log.close();
  await rm(join(root, '..'), { recursive: true, force: true });
  await k.deletePartition('ag-tenant-a').catch(() => undefined);
  await k.deletePartition('ag-squat').catch(() => undefined);
});

/** The requests a process's default selection (heap, 64 MiB anonymous, stack) makes in 512-page chunks. */
function expectedRequests(pid: number): string[] {
  const out = [`${pid} 0x55555555c000 0x55555557d000`];
  for (let s = 0x7f0000000000n; s < 0x7f0004000000n; s += 0x200000n) {
    out.push(`${pid} 0x${s.toString(16)} 0x${(s + 0x200000n).toString(16)}`);
  }
  out.push(`${pid} 0x7ffffffde000 0x7ffffffff000`);
  return out;
}

describe('node agent on a fixture host', () => {
  it('merges exactly the selected containers, range by range', async () => {
    const count = (pid: number) =>
      logs['merge']?.requests.filter((r) => r.startsWith(`${pid} `)).length ?? 0;
    await expect
      .poll(() => Math.min(count(pids.web1app), count(pids.web2app)), poll)
      .toBeGreaterThanOrEqual(34);
    const requests = logs['merge']?.requests ?? [];
    for (const pid of [pids.web1app, pids.web2app]) {
      expect(requests.filter((r) => r.startsWith(`${pid} `)).slice(0, 34)).toEqual(
        expectedRequests(pid),
      );
    }
    // Never the sidecar the partition does not name, nor a hostPID pod.
    expect(
      requests.some((r) => r.startsWith(`${pids.web1side} `) || r.startsWith(`${pids.tool} `)),
    ).toBe(false);
  });

  it('publishes its KsmNode, owned by its Node, with the kernel counters', async () => {
    await expect
      .poll(
        async () =>
          (await k.getNode('ag-node').catch(() => undefined))?.status?.partitions?.find(
            (p) => p.name === 'ag-tenant-a',
          ),
        poll,
      )
      .toEqual(
        expect.objectContaining({
          name: 'ag-tenant-a',
          pods: 2,
          processes: 2,
          pagesShared: 12,
          pagesSharing: 34,
          savedBytes: 34 * 4096,
          // Written once the first merge is done (a report comes before it too).
          lastMerge: expect.stringMatching(/^20\d\d-/),
        }),
      );
    const node = await k.getNode('ag-node');
    expect(node.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Node', name: 'ag-node' }),
    ]);
    expect(node.status?.kernel).toEqual({ selectiveKsm: true, release: '6.12.117-sksm' });
  });

  it('serves metrics labelled by partition', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPorts[0]}/metrics`)).text();
    expect(text).toMatch(
      /^selective_ksm_partition_saved_bytes\{partition="ag-tenant-a",node="ag-node"\} 139264$/m,
    );
    expect(text).toMatch(/^selective_ksm_agent_kernel_supported\{node="ag-node"\} 1$/m);
    const m =
      /^selective_ksm_agent_merges_total\{partition="ag-tenant-a",result="success",node="ag-node"\} (\d+)/m.exec(
        text,
      );
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(68);
    expect(text).not.toMatch(/pid=/);
  });

  it('refuses a kernel partition it did not make: an error in KsmNode, never a merge', async () => {
    await expect
      .poll(async () => {
        const status = (await k.getNode('ag-node').catch(() => undefined))?.status;
        return status?.partitions?.find((p) => p.name === 'ag-squat')?.errors?.[0];
      }, poll)
      .toMatchObject({ pod: 'ag-b/squat-1', reason: 'PartitionNotOurs' });
    expect(logs['squat']?.requests).toEqual([]);
  });

  it('removes kernel partitions that no KsmPartition backs', async () => {
    await expect.poll(() => logs['remove']?.requests, poll).toContain('ag-gone');
  });

  it('unmerges a pod relabelled out of its partition', async () => {
    await writeFile(
      join(root, 'proc', String(pids.web2app), 'ksm_stat'),
      'ksm_rmap_items 10\nksm_partition ag-tenant-a\n',
    );
    await k.labelPod('ag-a', 'web-2', { tier: 'batch' });
    await expect
      .poll(() => logs['unmerge']?.requests, poll)
      .toContain(`${pids.web2app} 0x0 0x7ffffffff000`);
    await expect
      .poll(
        async () =>
          (await k.getNode('ag-node')).status?.partitions?.find((p) => p.name === 'ag-tenant-a')
            ?.pods,
        poll,
      )
      .toBe(1);
  });

  it('says so in its KsmNode when the kernel has no Selective KSM, and merges nothing', async () => {
    await expect
      .poll(
        async () =>
          (await k.getNode('ag-old').catch(() => undefined))?.status?.kernel?.selectiveKsm,
        poll,
      )
      .toBe(false);
    const node = await k.getNode('ag-old');
    expect(node.status?.conditions?.[0]).toMatchObject({
      type: 'Merging',
      status: 'False',
      reason: 'KernelUnsupported',
    });
    expect(node.status?.partitions).toEqual([
      expect.objectContaining({ name: 'ag-tenant-a', pods: 1, pagesSharing: 0 }),
    ]);
  });

  it('after a restart, does not merge again what the kernel shows merged', async () => {
    await writeFile(
      join(root, 'proc', String(pids.web1app), 'ksm_stat'),
      'ksm_rmap_items 10\nksm_partition ag-tenant-a\n',
    );
    const count = () =>
      logs['merge']?.requests.filter((r) => r.startsWith(`${pids.web1app} `)).length ?? 0;
    const before = count();
    await agents[0]?.stop();
    const port = await launch('ag-node', root, agentKubeconfig);
    await expect
      .poll(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status,
        poll,
      )
      .toBe(200);
    // Three more passes (one a second) for it to change its mind.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(count()).toBe(before);
  });
});
