import { join } from 'node:path';
import {
  OPERATOR_NAME,
  operatorClusterRules,
  operatorLeaseRules,
} from '../../operator/src/rbac.ts';
import {
  type ControlPlaneInfo,
  freePort,
  installServiceAccount,
  OwnedProcess,
} from '../controlplane/index.ts';

// Runs the real operator (operator/src/main.ts) as a separate process, as a
// service account that has exactly the RBAC the chart ships.

export { api } from '../controlplane/objects.ts';

export const OPERATOR_NAMESPACE = 'selective-ksm';
const main = join(import.meta.dirname, '..', '..', 'operator', 'src', 'main.ts');

/** The operator's namespace, service account and exact RBAC; returns its kubeconfig. */
export async function installOperatorRbac(
  info: ControlPlaneInfo,
  leaseName: string,
): Promise<string> {
  return installServiceAccount(info, {
    namespace: OPERATOR_NAMESPACE,
    name: OPERATOR_NAME,
    clusterRules: operatorClusterRules,
    namespaceRules: {
      roleName: `${OPERATOR_NAME}-${leaseName}`,
      rules: operatorLeaseRules(leaseName),
    },
  });
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
