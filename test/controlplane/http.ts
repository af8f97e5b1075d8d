import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface RawResponse {
  status: number;
  body: string;
}

/**
 * A request outside the typed client, for what it does not cover (the Table
 * API, health endpoints) and for probing without its retries.
 */
export async function kubeRequest(
  kc: KubeConfig,
  path: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs?: number;
  } = {},
): Promise<RawResponse> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const https: Parameters<typeof request>[1] = {
    method: opts.method ?? 'GET',
    headers: opts.headers ?? {},
    timeout: opts.timeoutMs ?? 5000,
  };
  await kc.applyToHTTPSOptions(https);
  return new Promise((resolve, reject) => {
    const req = request(`${cluster.server}${path}`, https, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}
