import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

// How to reach the apiserver: a kubeconfig file, or the pod's service
// account. Read here rather than through @kubernetes/client-node, whose
// import alone costs about 85 MiB of memory (its generated models): the
// agent runs on every node, so that would be paid many times over.

export interface Connection {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** A bearer token, read anew for each request (bound tokens rotate). */
  token?: () => string;
  insecureSkipTlsVerify?: boolean;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Named<T> {
  name: string;
  [key: string]: unknown;
  value?: T;
}

function pick<T>(
  list: unknown,
  name: string | undefined,
  field: string,
  what: string,
  file: string,
): T {
  const entry = (Array.isArray(list) ? (list as Named<T>[]) : []).find((e) => e.name === name);
  if (!entry) throw new Error(`${file}: no ${what} named ${JSON.stringify(name)}`);
  return (entry[field] ?? {}) as T;
}

/** Data inline (base64) or from a file relative to the kubeconfig. */
function material(base: string, data: unknown, path: unknown): Buffer | undefined {
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  if (typeof path === 'string' && path !== '') {
    return readFileSync(isAbsolute(path) ? path : join(dirname(base), path));
  }
  return undefined;
}

function fromFile(file: string): Connection {
  const config = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const contextName = config['current-context'] as string | undefined;
  const context = pick<{ cluster?: string; user?: string }>(
    config['contexts'],
    contextName,
    'context',
    'context',
    file,
  );
  const cluster = pick<Record<string, unknown>>(
    config['clusters'],
    context.cluster,
    'cluster',
    'cluster',
    file,
  );
  const user = pick<Record<string, unknown>>(config['users'], context.user, 'user', 'user', file);
  const server = cluster['server'];
  if (typeof server !== 'string')
    throw new Error(`${file}: cluster ${context.cluster} has no server`);
  const conn: Connection = { server };
  const ca = material(
    file,
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
  );
  const cert = material(file, user['client-certificate-data'], user['client-certificate']);
  const key = material(file, user['client-key-data'], user['client-key']);
  if (ca) conn.ca = ca;
  if (cert) conn.cert = cert;
  if (key) conn.key = key;
  if (cluster['insecure-skip-tls-verify'] === true) conn.insecureSkipTlsVerify = true;
  const token = user['token'];
  const tokenFile = user['tokenFile'];
  if (typeof token === 'string' && token !== '') conn.token = () => token;
  else if (typeof tokenFile === 'string') conn.token = () => readFileSync(tokenFile, 'utf8').trim();
  return conn;
}

/** A kubeconfig file if given; else the pod's service account; else ~/.kube/config. */
export function loadConnection(file: string | undefined): Connection {
  if (file) return fromFile(file);
  const host = process.env['KUBERNETES_SERVICE_HOST'];
  if (host) {
    const port = process.env['KUBERNETES_SERVICE_PORT'] ?? '443';
    return {
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      ca: readFileSync(join(SERVICE_ACCOUNT, 'ca.crt')),
      token: () => readFileSync(join(SERVICE_ACCOUNT, 'token'), 'utf8').trim(),
    };
  }
  return fromFile(process.env['KUBECONFIG']?.split(':')[0] || join(homedir(), '.kube', 'config'));
}
