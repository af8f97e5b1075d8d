import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

// The HTTP endpoints every component serves: Prometheus metrics and the
// kubelet's liveness and readiness probes.

export interface Probes {
  /** Alive: the process can make progress. */
  healthy: () => boolean;
  /** Ready: caches synced, able to do its job (or stand by for it). */
  ready: () => boolean;
}

/** Parses "host:port", ":port" or "port"; an empty host means all addresses. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const m = /^(?:(.*):)?(\d{1,5})$/.exec(address);
  const port = Number(m?.[2]);
  if (!m || port > 65_535) throw new Error(`invalid listen address ${JSON.stringify(address)}`);
  return { host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port };
}

export async function serveEndpoints(
  address: string,
  registry: Registry,
  probes: Probes,
): Promise<Server> {
  const { host, port } = parseListenAddress(address);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const probe = (ok: boolean) => {
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not ready\n');
    };
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: Error) => {
          res.writeHead(500).end(err.message);
        },
      );
    } else if (path === '/healthz') {
      probe(probes.healthy());
    } else if (path === '/readyz') {
      probe(probes.ready());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host || undefined, resolve);
  });
  return server;
}
