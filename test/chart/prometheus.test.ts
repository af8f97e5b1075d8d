import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { AGENT_NAME, agentClusterRules } from '../../node-agent/src/rbac.ts';
import { type AgentProcess, startAgent } from '../agent/harness.ts';
import {
  adminConfig,
  freePort,
  installServiceAccount,
  type Prometheus,
  startPrometheus,
  waitFor,
} from '../controlplane/index.ts';
import { api } from '../controlplane/objects.ts';
import { sampleMaps, writeHost } from '../fixtures/host.ts';
import { type OperatorProcess, startOperator } from '../operator/harness.ts';
import { CHART, run } from './helm.ts';
import { alertRules, dashboardQueries, JOBS, RATE_WINDOW } from './promql.ts';

// Every PromQL expression of the dashboard and the alerts, checked by
// promtool and evaluated by a real Prometheus that scrapes a real operator
// and real agents: one on a node with Selective KSM, one on a node without,
// and one target that is down.

const PROMTOOL = '/usr/bin/promtool';

/** Panels that are empty while nothing goes wrong: they must still evaluate. */
const quietPanels = new Set(['Watch restarts']);
/** Alerts that must not fire in this scenario; the others must. */
const quietAlerts = new Set(['SelectiveKsmOperatorDown', 'SelectiveKsmOperatorNoLeader']);

let dir: string;
let rulesFile: string;
let prometheus: Prometheus | undefined;
let operator: OperatorProcess | undefined;
const agents: AgentProcess[] = [];
let k: ReturnType<typeof api>;

/** A query that reports a PromQL error instead of throwing it. */
async function query(expr: string): Promise<{ status: string; error?: string; result: unknown[] }> {
  try {
    return { status: 'success', result: (await prometheus?.query(expr)) ?? [] };
  } catch (err) {
    return { status: 'error', error: (err as Error).message, result: [] };
  }
}

beforeAll(async () => {
  const info = inject('controlPlane');
  k = api(adminConfig(info));
  dir = await mkdtemp(join(tmpdir(), 'sksm-prometheus-'));

  // Every dashboard query as a recording rule, so promtool parses it too.
  const queries = await dashboardQueries();
  rulesFile = join(dir, 'dashboard-rules.yaml');
  await writeFile(
    rulesFile,
    stringify({
      groups: [
        {
          name: 'dashboard',
          rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr })),
        },
      ],
    }),
  );

  // The scenario: partition pm-web on two nodes, one without Selective KSM;
  // partition pm-broken whose kernel merge file cannot be written; two
  // partitions that select the same pod.
  await k.createNode('pm-node');
  await k.createNode('pm-old');
  await k.createNamespace('pm-a', { tenant: 'pm-a' });
  const id = (c: string) => c.repeat(64);
  const running = (name: string, node: string, tier: string, cid: string) =>
    k.createRunningPod('pm-a', name, {
      nodeName: node,
      labels: { tier },
      containers: [{ name: 'app', containerID: `containerd://${cid}` }],
    });
  const web = await running('web-1', 'pm-node', 'web', id('a'));
  const broken = await running('batch-1', 'pm-node', 'batch', id('b'));
  const old = await running('web-2', 'pm-old', 'web', id('c'));
  await k.createPod('pm-a', 'shared', { tier: 'shared' });
  const container = (cid: string, pid: number) => ({
    ref: { runtime: 'containerd' as const, id: cid },
    processes: [{ pid, maps: sampleMaps() }],
  });
  const host = join(dir, 'host');
  await writeHost(host, {
    driver: 'systemd',
    pods: [
      { uid: web.metadata?.uid ?? '', qos: 'Burstable', containers: [container(id('a'), 3101)] },
      { uid: broken.metadata?.uid ?? '', qos: 'Burstable', containers: [container(id('b'), 3201)] },
    ],
    partitions: {
      'pm-web': { pagesShared: 10, pagesSharing: 40, mergedProcesses: 1 },
      'pm-broken': { pagesShared: 0, pagesSharing: 0 },
    },
  });
  // A directory where the merge file should be: every merge fails.
  const brokenMerge = join(host, 'sys/kernel/mm/ksm/partition/pm-broken/merge');
  await rm(brokenMerge);
  await mkdir(brokenMerge);
  const oldHost = join(dir, 'old-host');
  await writeHost(oldHost, {
    driver: 'cgroupfs',
    pods: [
      { uid: old.metadata?.uid ?? '', qos: 'Burstable', containers: [container(id('c'), 3301)] },
    ],
  });
  const inTenant = { namespaceSelector: { matchLabels: { tenant: 'pm-a' } } };
  await k.createPartition('pm-web', { ...inTenant, podSelector: { matchLabels: { tier: 'web' } } });
  await k.createPartition('pm-broken', {
    ...inTenant,
    podSelector: { matchLabels: { tier: 'batch' } },
  });
  for (const name of ['pm-shared-1', 'pm-shared-2']) {
    await k.createPartition(name, {
      ...inTenant,
      podSelector: { matchLabels: { tier: 'shared' } },
    });
  }

  operator = await startOperator(info, { identity: 'pm-operator', leaseName: 'pm-leader' });
  const kubeconfig = await installServiceAccount(info, {
    namespace: 'selective-ksm',
    name: AGENT_NAME,
    clusterRules: agentClusterRules,
  });
  for (const [node, hostRoot] of [
    ['pm-node', host],
    ['pm-old', oldHost],
  ] as const) {
    agents.push(await startAgent({ node, hostRoot, kubeconfig, logDir: dir }));
  }
  const downPort = await freePort();
  // The job names the chart's ServiceMonitors give (jobLabel selectiveksm.io/job).
  prometheus = await startPrometheus(
    join(dir, 'prometheus'),
    {
      [JOBS.operator]: [new URL(operator.metricsUrl).host],
      [JOBS.agent]: [...agents.map((a) => new URL(a.metricsUrl).host), `127.0.0.1:${downPort}`],
    },
    { ruleFiles: [join(CHART, 'files', 'alerts.yaml'), rulesFile], intervalSeconds: 1 },
  );
}, 60_000);

afterAll(async () => {
  await prometheus?.process.stop();
  await Promise.all(agents.map((a) => a.process.stop()));
  // With the agents gone, deleting their KsmNodes lets the operator, still
  // running, release the partitions: none is left waiting on its finalizer
  // for the test files after this one.
  const partitions = ['pm-web', 'pm-broken', 'pm-shared-1', 'pm-shared-2'];
  for (const p of partitions) await k.deletePartition(p).catch(() => undefined);
  for (const node of ['pm-node', 'pm-old']) await k.deleteNode(node).catch(() => undefined);
  await waitFor(
    'the scenario partitions to be released',
    async () => !(await Promise.all(partitions.map((p) => k.partitionExists(p)))).includes(true),
    30_000,
  );
  await operator?.process.stop();
  for (const node of ['pm-node', 'pm-old']) {
    await k.core.deleteNode({ name: node }).catch(() => undefined);
  }
  await k.core.deleteNamespace({ name: 'pm-a' }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('dashboard and alert expressions', () => {
  it('promtool accepts the alerts and every dashboard query', async () => {
    const r = await run(PROMTOOL, [
      'check',
      'rules',
      join(CHART, 'files', 'alerts.yaml'),
      rulesFile,
    ]);
    expect(r.stdout + r.stderr).not.toMatch(/FAILED|error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${(await alertRules()).length} rules found`);
    expect(r.stdout).toContain(`SUCCESS: ${(await dashboardQueries()).length} rules found`);
  });

  it('Prometheus scrapes the operator and both agents (and sees the dead target down)', async () => {
    // Two scrapes of every live target, so that rates have two samples.
    await waitFor(
      'two scrapes of each target',
      async () => {
        const r = await query(`count_over_time(up[${RATE_WINDOW}]) >= 2`);
        return r.result.length === 4;
      },
      30_000,
    );
    const up = await query('up');
    expect(
      (up.result as { metric: { job: string }; value: [number, string] }[])
        .map((s) => `${s.metric.job} ${s.value[1]}`)
        .sort(),
    ).toEqual([`${JOBS.agent} 0`, `${JOBS.agent} 1`, `${JOBS.agent} 1`, `${JOBS.operator} 1`]);
  });

  it('every dashboard query evaluates, with data unless it is for trouble that is absent', async () => {
    const queries = await dashboardQueries();
    const empty: string[] = [];
    await waitFor(
      'data for every dashboard panel',
      async () => {
        empty.length = 0;
        for (const q of queries) {
          const r = await query(q.expr);
          if (r.status !== 'success') throw new Error(`${q.panel}: ${q.expr}: ${r.error}`);
          if (r.result.length === 0 && !quietPanels.has(q.panel))
            empty.push(`${q.panel}: ${q.expr}`);
        }
        return empty.length === 0;
      },
      30_000,
      1_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nno data for:\n  ${empty.join('\n  ')}`);
    });
  });

  it('every alert evaluates; those whose trouble this scenario has fire, the others do not', async () => {
    const rules = await alertRules();
    const wrong: string[] = [];
    await waitFor(
      'the alerts to match the scenario',
      async () => {
        wrong.length = 0;
        for (const rule of rules) {
          const r = await query(rule.expr);
          if (r.status !== 'success') throw new Error(`${rule.alert}: ${r.error}`);
          const fires = r.result.length > 0;
          if (fires === quietAlerts.has(rule.alert ?? '')) {
            wrong.push(`${rule.alert} ${fires ? 'fires' : 'does not fire'}: ${rule.expr}`);
          }
        }
        return wrong.length === 0;
      },
      30_000,
      1_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n  ${wrong.join('\n  ')}`);
    });
    // Prometheus itself evaluates them without errors.
    const res = (await (await fetch(`${prometheus?.url}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const unhealthy = res.data.groups
      .flatMap((g) => g.rules)
      .filter((r) => r.health !== 'ok')
      .map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`);
    expect(unhealthy).toEqual([]);
  });
});
