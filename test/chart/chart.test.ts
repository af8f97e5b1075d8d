import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import {
  CHART,
  find,
  helm,
  KUBE_VERSION,
  kubectl,
  type Manifest,
  render,
  run,
  template,
} from './helm.ts';

// The chart rendered by the real helm and checked by the real apiserver.

const NAMESPACE = 'sksm-chart';
const root = join(import.meta.dirname, '..', '..');

/** Every key of values.yaml set to something other than its default. */
const allOptions = {
  image: { repository: 'registry.example/sksm/selective-ksm', tag: '1.2.3', pullPolicy: 'Always' },
  imagePullSecrets: [{ name: 'regcred' }],
  fullnameOverride: 'ksm',
  crds: { install: true, keep: false },
  operator: {
    replicas: 3,
    leaderElectionId: 'ksm-leader',
    leaseDuration: '30s',
    renewDeadline: '20s',
    retryPeriod: '4s',
    releaseTimeout: '10m',
    staleAfter: '5m',
    workers: 8,
    logLevel: 'debug',
    metricsPort: 9090,
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
    podDisruptionBudget: { enabled: false },
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }],
            },
          ],
        },
      },
    },
    priorityClassName: 'system-cluster-critical',
    podAnnotations: { 'example.com/team': 'memory' },
    podLabels: { team: 'memory' },
  },
  agent: {
    // Helm merges maps with the defaults: null drops the default label.
    nodeSelector: { 'selectiveksm.io/kernel': null, 'example.com/ksm': 'yes' },
    tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] },
          ],
        },
      },
    },
    maxPagesPerSecond: 1000,
    chunkPages: 64,
    resyncSeconds: 10,
    logLevel: 'warn',
    metricsPort: 9091,
    resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: 1, memory: '256Mi' } },
    maxUnavailable: '20%',
    priorityClassName: 'system-node-critical',
    podAnnotations: { 'example.com/team': 'memory' },
    podLabels: { team: 'memory' },
  },
  admissionPolicy: { enabled: false },
  metrics: {
    serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prometheus' } },
    prometheusRule: { enabled: true, labels: { release: 'prometheus' } },
  },
  dashboard: {
    enabled: true,
    namespace: 'monitoring',
    labels: { team: 'memory' },
    annotations: { 'grafana.example/folder': 'Memory' },
  },
};

/** Leaf paths of a values tree; lists and maps meant for free content count as leaves. */
function leaves(value: unknown, path = ''): string[] {
  const freeForm =
    /(nodeSelector|affinity|resources|Annotations|Labels|labels|annotations|tolerations|imagePullSecrets)$/;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || freeForm.test(path)) {
    return [path];
  }
  return Object.entries(value).flatMap(([k, v]) => leaves(v, path ? `${path}.${k}` : k));
}

type Container = {
  name: string;
  image: string;
  imagePullPolicy: string;
  command: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources?: unknown;
  securityContext: Record<string, unknown>;
};
type PodSpec = {
  serviceAccountName: string;
  hostPID?: boolean;
  containers: Container[];
  securityContext?: Record<string, unknown>;
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
  priorityClassName?: string;
  imagePullSecrets?: unknown[];
};
type Workload = Manifest & {
  spec: {
    replicas?: number;
    updateStrategy?: { type: string; rollingUpdate?: { maxUnavailable: unknown } };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: PodSpec;
    };
  };
};

const env = (c: Container) =>
  Object.fromEntries(c.env.map((e) => [e.name, e.value ?? `<${e.valueFrom?.fieldRef.fieldPath}>`]));
const container = (w: Manifest) => (w as Workload).spec.template.spec.containers[0] as Container;

describe('chart: helm', () => {
  it('is generated from the current CRDs and RBAC rules (node hack/chart.ts --check)', async () => {
    const r = await run(process.execPath, [join(root, 'hack', 'chart.ts'), '--check']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('passes helm lint --strict, with the default values and with every option', async () => {
    for (const values of [undefined, allOptions]) {
      const dir = await mkdtemp(join(tmpdir(), 'sksm-lint-'));
      const args = ['lint', '--strict', CHART, '--kube-version', KUBE_VERSION];
      if (values) {
        const file = join(dir, 'values.yaml');
        await writeFile(file, JSON.stringify(values));
        args.push('--values', file);
      }
      const r = await helm(args);
      await rm(dir, { recursive: true, force: true });
      expect(r.stdout, r.stderr).toContain('0 chart(s) failed');
      expect(r.code).toBe(0);
    }
  });

  it('the test of every option sets every key of values.yaml', async () => {
    const defaults = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as object;
    expect(leaves(allOptions).sort()).toEqual(leaves(defaults).sort());
  });

  it('renders the defaults: CRDs kept, operator, agent, RBAC, policy, services, dashboard', async () => {
    const { docs } = await render();
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/chart-test-selective-ksm-agent',
        'ClusterRole/chart-test-selective-ksm-operator',
        'ClusterRoleBinding/chart-test-selective-ksm-agent',
        'ClusterRoleBinding/chart-test-selective-ksm-operator',
        'ConfigMap/chart-test-selective-ksm-dashboard',
        'CustomResourceDefinition/ksmnodes.selectiveksm.io',
        'CustomResourceDefinition/ksmpartitions.selectiveksm.io',
        'DaemonSet/chart-test-selective-ksm-agent',
        'Deployment/chart-test-selective-ksm-operator',
        'PodDisruptionBudget/chart-test-selective-ksm-operator',
        'Role/chart-test-selective-ksm-operator-leader-election',
        'RoleBinding/chart-test-selective-ksm-operator-leader-election',
        'Service/chart-test-selective-ksm-agent-metrics',
        'Service/chart-test-selective-ksm-operator-metrics',
        'ServiceAccount/chart-test-selective-ksm-agent',
        'ServiceAccount/chart-test-selective-ksm-operator',
        'ValidatingAdmissionPolicy/chart-test-selective-ksm-agent-own-ksmnode',
        'ValidatingAdmissionPolicyBinding/chart-test-selective-ksm-agent-own-ksmnode',
      ].sort(),
    );
    // The CRDs are exactly the generated ones, plus the keep annotation.
    for (const crd of docs.filter((d) => d.kind === 'CustomResourceDefinition')) {
      const [plural, ...group] = crd.metadata.name.split('.');
      const shipped = parse(
        await readFile(
          join(root, 'crds', 'manifests', `${group.join('.')}_${plural}.yaml`),
          'utf8',
        ),
      ) as Manifest;
      expect(crd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      const { annotations: _ignored, ...meta } = crd.metadata;
      expect({ ...crd, metadata: meta }).toEqual(shipped);
    }

    const operator = find(docs, 'Deployment') as Workload;
    expect(operator.spec.replicas).toBe(2);
    const pod = operator.spec.template.spec;
    expect(pod.serviceAccountName).toBe('chart-test-selective-ksm-operator');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
    const oc = container(operator);
    expect(oc.image).toBe('ghcr.io/selective-ksm/selective-ksm:0.1.0');
    expect(oc.command).toEqual(['node', 'dist/operator/src/main.js']);
    expect(oc.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(oc.resources).toMatchObject({ requests: { cpu: '50m' }, limits: { memory: '256Mi' } });
    expect(oc.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(oc.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(env(oc)).toEqual({
      NODE_OPTIONS: '--max-semi-space-size=4',
      POD_NAME: '<metadata.name>',
      POD_NAMESPACE: '<metadata.namespace>',
      LEADER_ELECTION_ID: 'selective-ksm-operator',
      LEASE_DURATION: '15s',
      RENEW_DEADLINE: '10s',
      RETRY_PERIOD: '2s',
      RELEASE_TIMEOUT: '5m',
      STALE_AFTER: '2m',
      WORKERS: '4',
      LOG_LEVEL: 'info',
      METRICS_ADDRESS: ':8080',
    });

    const agent = find(docs, 'DaemonSet') as Workload;
    expect(agent.spec.updateStrategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 1 },
    });
    const apod = agent.spec.template.spec;
    expect(apod.hostPID).toBe(true);
    expect(apod.nodeSelector).toEqual({ 'selectiveksm.io/kernel': 'true' });
    expect(apod.tolerations).toEqual([{ operator: 'Exists' }]);
    const ac = container(agent);
    expect(ac.command).toEqual(['node', 'dist/node-agent/src/main.js']);
    expect(ac.securityContext).toEqual({
      privileged: true,
      runAsUser: 0,
      readOnlyRootFilesystem: true,
    });
    expect(env(ac)).toEqual({
      NODE_OPTIONS: '--max-semi-space-size=4',
      NODE_NAME: '<spec.nodeName>',
      POD_UID: '<metadata.uid>',
      HOST_ROOT: '/proc/1/root',
      MAX_PAGES_PER_SECOND: '51200',
      CHUNK_PAGES: '512',
      RESYNC_SECONDS: '30',
      LOG_LEVEL: 'info',
      METRICS_ADDRESS: ':8081',
    });
    expect(ac.livenessProbe.httpGet.path).toBe('/healthz');
    expect(ac.readinessProbe.httpGet.path).toBe('/readyz');

    const dashboard = find(docs, 'ConfigMap') as Manifest & { data: Record<string, string> };
    expect(dashboard.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect(JSON.parse(dashboard.data['selective-ksm.json'] ?? '')).toEqual(
      JSON.parse(await readFile(join(CHART, 'files', 'dashboard.json'), 'utf8')),
    );
  });

  it('renders no ServiceMonitor or PrometheusRule unless asked and the cluster serves them', async () => {
    const monitoring = {
      metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } },
    };
    const kinds = async (o: Parameters<typeof render>[0]) =>
      (await render(o)).docs.map((d) => d.kind);
    expect(await kinds({ values: monitoring })).not.toContain('ServiceMonitor');
    expect(await kinds({ values: monitoring })).not.toContain('PrometheusRule');
    expect(await kinds({ monitoring: true })).not.toContain('ServiceMonitor');
    const both = await kinds({ values: monitoring, monitoring: true });
    expect(both.filter((k) => k === 'ServiceMonitor')).toHaveLength(2);
    expect(both.filter((k) => k === 'PrometheusRule')).toHaveLength(1);
  });

  it('renders every option where it belongs', async () => {
    const { docs } = await render({ values: allOptions, monitoring: true, release: 'r' });
    const names = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    expect(names).not.toContain('PodDisruptionBudget/ksm-operator');
    expect(names.some((n) => n.startsWith('ValidatingAdmissionPolicy'))).toBe(false);

    const operator = find(docs, 'Deployment', 'ksm-operator') as Workload;
    expect(operator.spec.replicas).toBe(3);
    const pod = operator.spec.template.spec;
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.nodeSelector).toEqual(allOptions.operator.nodeSelector);
    expect(pod.tolerations).toEqual(allOptions.operator.tolerations);
    expect(pod.affinity).toEqual(allOptions.operator.affinity);
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(operator.spec.template.metadata.labels['team']).toBe('memory');
    expect(operator.spec.template.metadata.annotations).toEqual({ 'example.com/team': 'memory' });
    const oc = container(operator);
    expect(oc.image).toBe('registry.example/sksm/selective-ksm:1.2.3');
    expect(oc.imagePullPolicy).toBe('Always');
    expect(oc.resources).toEqual(allOptions.operator.resources);
    expect(oc.ports).toEqual([{ name: 'metrics', containerPort: 9090, protocol: 'TCP' }]);
    expect(env(oc)).toMatchObject({
      LEADER_ELECTION_ID: 'ksm-leader',
      LEASE_DURATION: '30s',
      RENEW_DEADLINE: '20s',
      RETRY_PERIOD: '4s',
      RELEASE_TIMEOUT: '10m',
      STALE_AFTER: '5m',
      WORKERS: '8',
      LOG_LEVEL: 'debug',
      METRICS_ADDRESS: ':9090',
    });
    const role = find(docs, 'Role') as Manifest & { rules: { resourceNames?: string[] }[] };
    expect(role.rules.flatMap((r) => r.resourceNames ?? [])).toEqual(['ksm-leader']);

    const agent = find(docs, 'DaemonSet', 'ksm-agent') as Workload;
    expect(agent.spec.updateStrategy?.rollingUpdate?.maxUnavailable).toBe('20%');
    const apod = agent.spec.template.spec;
    expect(apod.nodeSelector).toEqual({ 'example.com/ksm': 'yes' });
    expect(apod.tolerations).toEqual(allOptions.agent.tolerations);
    expect(apod.affinity).toEqual(allOptions.agent.affinity);
    expect(apod.priorityClassName).toBe('system-node-critical');
    expect(apod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(agent.spec.template.metadata.labels['team']).toBe('memory');
    const ac = container(agent);
    expect(ac.resources).toEqual(allOptions.agent.resources);
    expect(env(ac)).toMatchObject({
      MAX_PAGES_PER_SECOND: '1000',
      CHUNK_PAGES: '64',
      RESYNC_SECONDS: '10',
      LOG_LEVEL: 'warn',
      METRICS_ADDRESS: ':9091',
    });

    for (const crd of docs.filter((d) => d.kind === 'CustomResourceDefinition')) {
      expect(crd.metadata.annotations).toBeUndefined();
    }
    const monitors = docs.filter((d) => d.kind === 'ServiceMonitor') as (Manifest & {
      spec: { jobLabel: string; endpoints: { interval: string }[] };
    })[];
    expect(monitors.map((m) => m.metadata.labels?.['release'])).toEqual([
      'prometheus',
      'prometheus',
    ]);
    expect(monitors.map((m) => m.spec.endpoints[0]?.interval)).toEqual(['15s', '15s']);
    const services = docs.filter((d) => d.kind === 'Service') as (Manifest & {
      spec: { ports: { port: number }[] };
    })[];
    expect(
      services.map((s) => [
        s.metadata.labels?.[monitors[0]?.spec.jobLabel ?? ''],
        s.spec.ports[0]?.port,
      ]),
    ).toEqual([
      ['selective-ksm-operator', 9090],
      ['selective-ksm-agent', 9091],
    ]);
    const rule = find(docs, 'PrometheusRule') as Manifest & { spec: unknown };
    expect(rule.metadata.labels?.['release']).toBe('prometheus');
    expect(rule.spec).toEqual(parse(await readFile(join(CHART, 'files', 'alerts.yaml'), 'utf8')));
    const dashboard = find(docs, 'ConfigMap');
    expect(dashboard.metadata.namespace).toBe('monitoring');
    expect(dashboard.metadata.labels).toMatchObject({ grafana_dashboard: '1', team: 'memory' });
    expect(dashboard.metadata.annotations).toEqual({ 'grafana.example/folder': 'Memory' });
  });

  it('can leave the CRDs and the dashboard out', async () => {
    const { docs } = await render({
      values: { crds: { install: false }, dashboard: { enabled: false } },
    });
    expect(docs.map((d) => d.kind)).not.toContain('CustomResourceDefinition');
    expect(docs.map((d) => d.kind)).not.toContain('ConfigMap');
  });

  it('rejects unknown keys and wrong types with the path and the reason', async () => {
    const cases: [object, string[]][] = [
      [
        { operator: { replica: 3 } },
        ["at '/operator': additional properties 'replica' not allowed"],
      ],
      [{ agentt: {} }, ["at '': additional properties 'agentt' not allowed"]],
      [
        { metrics: { serviceMonitor: { enable: true } } },
        ["at '/metrics/serviceMonitor': additional properties 'enable' not allowed"],
      ],
      [{ operator: { replicas: 'two' } }, ["at '/operator/replicas': got string, want integer"]],
      [{ crds: { keep: 'yes' } }, ["at '/crds/keep': got string, want boolean"]],
      [
        { agent: { nodeSelector: { a: 1 } } },
        ["at '/agent/nodeSelector/a': got number, want string"],
      ],
      [
        { operator: { leaseDuration: '15 seconds' } },
        ["at '/operator/leaseDuration'", 'does not match pattern'],
      ],
      [{ agent: { logLevel: 'verbose' } }, ["at '/agent/logLevel'", 'value must be one of']],
      [
        { agent: { tolerations: [{ operator: 'Exists', efect: 'NoSchedule' }] } },
        ["at '/agent/tolerations/0': additional properties 'efect' not allowed"],
      ],
    ];
    for (const [values, messages] of cases) {
      const r = await template({ values });
      expect(r.code, JSON.stringify(values)).not.toBe(0);
      expect(r.stderr).toContain("values don't meet the specifications of the schema");
      for (const m of messages) expect(r.stderr, JSON.stringify(values)).toContain(m);
    }
  });
});

describe('chart: against the real apiserver', () => {
  let kubeconfig: string;

  beforeAll(async () => {
    kubeconfig = inject('controlPlane').kubeconfig;
    const r = await kubectl(kubeconfig, ['create', 'namespace', NAMESPACE]);
    if (r.code !== 0 && !r.stderr.includes('AlreadyExists')) throw new Error(r.stderr);
  });

  afterAll(async () => {
    await kubectl(kubeconfig, ['delete', 'namespace', NAMESPACE, '--wait=false']);
  });

  it('helm install --dry-run=server renders NOTES.txt: what to label, how to check, what is missing', async () => {
    const r = await helm([
      'install',
      'chart-notes',
      CHART,
      '--namespace',
      NAMESPACE,
      '--kubeconfig',
      kubeconfig,
      '--dry-run=server',
      // The global set-up applied the CRDs without Helm, as `kubectl apply
      // -f crds/manifests` would: Helm refuses to adopt them (README).
      '--set',
      'crds.install=false',
      '--set',
      'metrics.serviceMonitor.enabled=true',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain('kubectl label node NODE selectiveksm.io/kernel=true');
    expect(notes).toContain('kubectl get ksmnodes');
    expect(notes).toContain(`ConfigMap\n   ${NAMESPACE}/chart-notes-selective-ksm-dashboard`);
    // The test control plane serves no monitoring.coreos.com/v1.
    expect(notes).toContain('this\ncluster does not serve monitoring.coreos.com/v1');
    expect(r.stdout).not.toContain('kind: ServiceMonitor');
  });

  it('accepts every rendered object in a server-side dry run, defaults and every option', async () => {
    for (const o of [{}, { values: allOptions, monitoring: true }]) {
      const { docs } = await render(o);
      // The test control plane has no Prometheus Operator CRDs; those two
      // kinds are checked by rendering above and by promtool.
      const objects = docs
        .filter((d) => d.apiVersion !== 'monitoring.coreos.com/v1')
        .map((d) =>
          d.metadata.namespace === 'monitoring'
            ? { ...d, metadata: { ...d.metadata, namespace: NAMESPACE } }
            : d,
        );
      const r = await kubectl(
        kubeconfig,
        ['apply', '--server-side', '--dry-run=server', '--field-manager=chart-test', '-f', '-'],
        objects,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(objects.length);
    }
  });
});
