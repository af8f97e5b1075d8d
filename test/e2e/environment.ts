import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type KubeError, loadConnection, Rest } from '@selective-ksm/kube';
import { AGENT_NAME, agentClusterRules } from '../../node-agent/src/rbac.ts';
import { JOBS } from '../chart/promql.ts';
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
import { type ImageStats, NODE, namespaces, partitions, pods } from './scenario.ts';
import { bootVm, guest, prepareRun, repo, vmKubeconfig } from './vm.ts';

// The whole system on one machine, as the end-to-end test and `make demo`
// run it: the real control plane, operator and Prometheus on the host; the
// patched kernel in a qemu VM running the real agent and the scenario's
// workloads in kubelet-style cgroups.

export interface NodeReport {
  name: string;
  pods: number;
  processes: number;
  pagesShared: number;
  pagesSharing: number;
  pagesUnshared?: number;
  savedBytes: number;
  errors?: { reason: string; message: string }[];
}

export interface Environment {
  plane: ControlPlane;
  operator: OperatorProcess;
  prom: Prometheus;
  vm: OwnedProcess;
  rest: Rest;
  k: ReturnType<typeof api>;
  image: ImageStats;
  runDir: string;
  agentMetricsUrl: string;
  /** This node's report of a partition, from its KsmNode. */
  report(partition: string): Promise<NodeReport | undefined>;
  /** Container key → the partition that should hold it now (conflicted pods: none). */
  partitionsNow(): Promise<Record<string, string>>;
  /** Shuts the guest down and stops everything; the VM's exit code (0: clean, no kernel warning). */
  stop(): Promise<unknown>;
}

export async function startEnvironment(say: (line: string) => void): Promise<Environment> {
  say('building the operator and agent (dist/)');
  execFileSync(process.execPath, [join(repo, 'hack/build.ts')], { stdio: 'ignore' });
  const plane = await ControlPlane.start({ progress: say });
  const kc = adminConfig(plane.info);
  await installCrds(kc);
  const rest = new Rest(loadConnection(plane.info.kubeconfig), 'e2e');
  const k = api(kc);
  say('starting the operator');
  const operator = await startOperator(plane.info, { identity: 'e2e-operator', leaseName: 'e2e' });

  await k.createNode(NODE);
  for (const [name, labels] of Object.entries(namespaces)) await k.createNamespace(name, labels);
  say('preparing the VM run folder (guest-image program, a 27 MiB guest image)');
  const run = await prepareRun('node');
  const image = pageStats([await readFile(run.imageFile)]);

  const keyOf = new Map<string, string>();
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
  say(`created ${pods.length} pods on node ${NODE} and ${partitions.length} partitions`);

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
  const prom = await startPrometheus(join(run.dir, 'prometheus'), {
    [JOBS.operator]: [new URL(operator.metricsUrl).host],
    [JOBS.agent]: [`127.0.0.1:${metricsPort}`],
  });
  say(`Prometheus on ${prom.url}`);
  say('booting the VM on the patched kernel (qemu, software emulation: about a minute)');
  const vm = await bootVm({
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
    600_000,
    1000,
  );
  say('the VM runs the workloads and the agent');

  const env: Environment = {
    plane,
    operator,
    prom,
    vm,
    rest,
    k,
    image,
    runDir: run.dir,
    agentMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    async report(partition) {
      const node = await k.getNode(NODE).catch(() => undefined);
      return node?.status?.partitions?.find((p) => p.name === partition) as NodeReport | undefined;
    },
    async partitionsNow() {
      const out: Record<string, string> = {};
      for (const [key, pod] of keyOf) {
        const [namespace, name] = pod.split('/') as [string, string];
        const labels = (await k.core.readNamespacedPod({ namespace, name })).metadata?.labels ?? {};
        if (labels['team'] === 'batch') continue;
        out[key] = namespace === 'shop' ? 'shop' : `tenant-${labels['tenant']}`;
      }
      return out;
    },
    async stop() {
      let code: unknown = 'not running';
      if (vm.running) {
        await guest(rest, { name: 'shutdown' }, 120_000).catch((err: KubeError) =>
          say(`shutdown: ${err.message}`),
        );
        code = await Promise.race([
          vm.waitExit(),
          new Promise((r) => setTimeout(() => r('timeout'), 120_000)),
        ]);
        if (code !== 0) await vm.stop();
      }
      await prom.process.stop();
      await operator.process.stop();
      rest.close();
      await plane.stop();
      return code;
    },
  };
  return env;
}
