import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { PolicyRule } from '@selective-ksm/kube';
import { adminConfig, type ControlPlaneInfo, serviceAccountConfig } from './kubeconfig.ts';
import { ignoreConflict } from './objects.ts';

export interface ServiceAccountSpec {
  namespace: string;
  name: string;
  /** Bound cluster-wide through a ClusterRole of the same name. */
  clusterRules: PolicyRule[];
  /** Bound in `namespace` through a Role named `roleName`. */
  namespaceRules?: { roleName: string; rules: PolicyRule[] };
}

/**
 * Creates a namespace, a service account, its roles and bindings (all
 * idempotent) and writes a kubeconfig with a real token for it.
 */
export async function installServiceAccount(
  info: ControlPlaneInfo,
  sa: ServiceAccountSpec,
): Promise<string> {
  const kc = adminConfig(info);
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await ignoreConflict(core.createNamespace({ body: { metadata: { name: sa.namespace } } }));
  const subject = { kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace };
  const roleRef = (kind: string, name: string) => ({
    apiGroup: 'rbac.authorization.k8s.io',
    kind,
    name,
  });
  await ignoreConflict(
    rbac.createClusterRole({ body: { metadata: { name: sa.name }, rules: sa.clusterRules } }),
  );
  await ignoreConflict(
    rbac.createClusterRoleBinding({
      body: {
        metadata: { name: sa.name },
        roleRef: roleRef('ClusterRole', sa.name),
        subjects: [subject],
      },
    }),
  );
  if (sa.namespaceRules) {
    const { roleName, rules } = sa.namespaceRules;
    await ignoreConflict(
      rbac.createNamespacedRole({
        namespace: sa.namespace,
        body: { metadata: { name: roleName }, rules },
      }),
    );
    await ignoreConflict(
      rbac.createNamespacedRoleBinding({
        namespace: sa.namespace,
        body: {
          metadata: { name: roleName },
          roleRef: roleRef('Role', roleName),
          subjects: [subject],
        },
      }),
    );
  }
  const config = await serviceAccountConfig(info, sa.namespace, sa.name);
  const file = join(info.dir, `${sa.name}-${process.pid}.kubeconfig`);
  await writeFile(file, config.exportConfig(), { mode: 0o600 });
  return file;
}
