import { KubeConfig } from '@kubernetes/client-node';

/** A kubeconfig file if given; else the pod's service account; else ~/.kube/config. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
