import { writeFile } from 'node:fs/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { base64File, issueCertificate, type KeyPair } from './certs.ts';

/** How to reach a running test control plane; plain data, so it can cross processes. */
export interface ControlPlaneInfo {
  dir: string;
  server: string;
  caFile: string;
  caKeyFile: string;
  adminCertFile: string;
  adminKeyFile: string;
  /** A kubeconfig file for the admin user (group system:masters). */
  kubeconfig: string;
}

type Credentials =
  | { 'client-certificate-data': string; 'client-key-data': string }
  | { token: string };

async function kubeconfigText(info: ControlPlaneInfo, user: string, creds: Credentials) {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'selective-ksm-test',
        cluster: {
          server: info.server,
          'certificate-authority-data': await base64File(info.caFile),
        },
      },
    ],
    users: [{ name: user, user: creds }],
    contexts: [{ name: user, context: { cluster: 'selective-ksm-test', user } }],
    'current-context': user,
  });
}

async function certCredentials(pair: KeyPair): Promise<Credentials> {
  return {
    'client-certificate-data': await base64File(pair.cert),
    'client-key-data': await base64File(pair.key),
  };
}

/** Writes a kubeconfig (credentials embedded) for a client certificate. */
export async function writeKubeconfig(
  file: string,
  info: ControlPlaneInfo,
  user: string,
  pair: KeyPair,
): Promise<void> {
  await writeFile(file, await kubeconfigText(info, user, await certCredentials(pair)), {
    mode: 0o600,
  });
}

function fromText(text: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
}

/** The cluster administrator. */
export function adminConfig(info: ControlPlaneInfo): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfig);
  return kc;
}

let userSerial = 0;

/**
 * A user authenticated the way a real one is: a client certificate signed
 * by the cluster CA, CN the user name and O its groups. RBAC then decides.
 */
export async function userConfig(
  info: ControlPlaneInfo,
  user: string,
  groups: string[] = [],
): Promise<KubeConfig> {
  const name = `user-${process.pid}-${++userSerial}`;
  const pair = await issueCertificate(info.dir, name, { commonName: user, organizations: groups });
  return fromText(await kubeconfigText(info, user, await certCredentials(pair)));
}

/**
 * A service account, authenticated with a real bound token from the
 * TokenRequest API (the account is created if missing).
 */
export async function serviceAccountConfig(
  info: ControlPlaneInfo,
  namespace: string,
  name: string,
): Promise<KubeConfig> {
  const core = adminConfig(info).makeApiClient(CoreV1Api);
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  const token = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const value = token.status?.token;
  if (!value) throw new Error(`no token issued for ${namespace}/${name}`);
  return fromText(
    await kubeconfigText(info, `system:serviceaccount:${namespace}:${name}`, { token: value }),
  );
}
