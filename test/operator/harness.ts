import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import {
  OPERATOR_NAME,
  operatorClusterRules,
  operatorLeaseRules,
} from '../../operator/src/rbac.ts';
import {
  adminConfig,
  type ControlPlaneInfo,
  freePort,
  OwnedProcess,
  serviceAccountConfig,
} from '../controlplane/index.ts';

// Runs the real operator (operator/src/main.ts) as a separate process, as a
// service account that has exactly the RBAC the chart ships.

export const OPERATOR_NAMESPACE = 'selective-ksm';
const main = join(import.meta.dirname, '..', '..', 'operator', 'src', 'main.ts');

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  await p.catch((err: { code?: number }) => {
    if (err.code !== 409) throw err;
  });
}

/** Namespace, service account, roles and bindings; idempotent. */
export async function installOperatorRbac(
  info: ControlPlaneInfo,
  leaseName: string,
): Promise<string> {
  const kc = adminConfig(info);
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await ignoreConflict(core.createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } }));
  const subject = { kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: OPERATOR_NAMESPACE };
  const roleRef = (kind: string, name: string) => ({
    apiGroup: 'rbac.authorization.k8s.io',
    kind,
    name,
  });
  await ignoreConflict(
    rbac.createClusterRole({
      body: { metadata: { name: OPERATOR_NAME }, rules: operatorClusterRules },
    }),
  );
  await ignoreConflict(
    rbac.createClusterRoleBinding({
      body: {
        metadata: { name: OPERATOR_NAME },
        roleRef: roleRef('ClusterRole', OPERATOR_NAME),
        subjects: [subject],
      },
    }),
  );
  const roleName = `${OPERATOR_NAME}-${leaseName}`;
  await ignoreConflict(
    rbac.createNamespacedRole({
      namespace: OPERATOR_NAMESPACE,
      body: { metadata: { name: roleName }, rules: operatorLeaseRules(leaseName) },
    }),
  );
  await ignoreConflict(
    rbac.createNamespacedRoleBinding({
      namespace: OPERATOR_NAMESPACE,
      body: {
        metadata: { name: roleName },
        roleRef: roleRef('Role', roleName),
        subjects: [subject],
      },
    }),
  );
  const sa = await serviceAccountConfig(info, OPERATOR_NAMESPACE, OPERATOR_NAME);
  const file = join(info.dir, `operator-${process.pid}.kubeconfig`);
  await writeFile(file, sa.exportConfig(), { mode: 0o600 });
  return file;
}

export interface OperatorProcess {
  identity: string;
  metricsUrl: string;
  process: OwnedProcess;
  metrics(): Promise<string>;
}

export async function startOperator(
  info: ControlPlaneInfo,
  opts: { identity: string; leaseName: string; flags?: string[] },
): Promise<OperatorProcess> {
  const kubeconfig = await installOperatorRbac(info, opts.leaseName);
  const port = await freePort();
  const proc = new OwnedProcess(
    `operator ${opts.identity}`,
    process.execPath,
    [
      main,
      `--kubeconfig=${kubeconfig}`,
      `--metrics-address=127.0.0.1:${port}`,
      `--leader-election-namespace=${OPERATOR_NAMESPACE}`,
      `--leader-election-id=${opts.leaseName}`,
      `--identity=${opts.identity}`,
      ...(opts.flags ?? []),
    ],
    join(info.dir, `operator-${opts.identity}.log`),
  );
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  return {
    identity: opts.identity,
    metricsUrl,
    process: proc,
    metrics: async () => (await fetch(metricsUrl)).text(),
  };
}

/** Typed helpers for the test's own (admin) writes. */
export function api(kc: KubeConfig) {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const group = 'selectiveksm.io';
  const version = 'v1alpha1';
  return {
    core,
    custom,
    createPartition: (name: string, spec: object) =>
      custom.createClusterCustomObject({
        group,
        version,
        plural: 'ksmpartitions',
        body: { apiVersion: `${group}/${version}`, kind: 'KsmPartition', metadata: { name }, spec },
      }),
    getPartition: async (name: string) =>
      (await custom.getClusterCustomObject({ group, version, plural: 'ksmpartitions', name })) as {
        metadata: { finalizers?: string[]; deletionTimestamp?: string };
        status?: Record<string, unknown> & {
          conditions?: { type: string; status: string; reason: string; message: string }[];
        };
      },
    deletePartition: (name: string) =>
      custom.deleteClusterCustomObject({ group, version, plural: 'ksmpartitions', name }),
    partitionExists: async (name: string) =>
      custom
        .getClusterCustomObject({ group, version, plural: 'ksmpartitions', name })
        .then(() => true)
        .catch((err: { code?: number }) => {
          if (err.code === 404) return false;
          throw err;
        }),
    /** Writes a KsmNode as an agent would: create, then the status subresource. */
    reportNode: async (name: string, status: object) => {
      await ignoreConflict(
        custom.createClusterCustomObject({
          group,
          version,
          plural: 'ksmnodes',
          body: { apiVersion: `${group}/${version}`, kind: 'KsmNode', metadata: { name } },
        }),
      );
      const current = (await custom.getClusterCustomObject({
        group,
        version,
        plural: 'ksmnodes',
        name,
      })) as object;
      await custom.replaceClusterCustomObjectStatus({
        group,
        version,
        plural: 'ksmnodes',
        name,
        body: { ...current, status },
      });
    },
    deleteNode: (name: string) =>
      custom.deleteClusterCustomObject({ group, version, plural: 'ksmnodes', name }),
    createNamespace: (name: string, labels: Record<string, string>) =>
      core.createNamespace({ body: { metadata: { name, labels } } }),
    labelNamespace: (name: string, labels: Record<string, string>) =>
      core.replaceNamespace({ name, body: { metadata: { name, labels } } }),
    createPod: (namespace: string, name: string, labels: Record<string, string>) =>
      core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name, labels },
          spec: { containers: [{ name: 'app', image: 'registry.invalid/app' }] },
        },
      }),
    labelPod: async (namespace: string, name: string, labels: Record<string, string>) => {
      const pod = await core.readNamespacedPod({ namespace, name });
      pod.metadata = { ...pod.metadata, labels };
      await core.replaceNamespacedPod({ namespace, name, body: pod });
    },
  };
}
