export { ControlPlane, type StartOptions, toolsDir } from './controlplane.ts';
export { CRD_DIR, installCrds, readCrds } from './crds.ts';
export { kubeRequest, type RawResponse } from './http.ts';
export {
  adminConfig,
  type ControlPlaneInfo,
  serviceAccountConfig,
  userConfig,
} from './kubeconfig.ts';
export { freePort, OwnedProcess, waitFor } from './process.ts';
export { type Prometheus, startPrometheus } from './prometheus.ts';
export { installServiceAccount, type ServiceAccountSpec } from './rbac.ts';
