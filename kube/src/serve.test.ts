import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseListenAddress, serveEndpoints } from './serve.ts';

describe('parseListenAddress', () => {
  it('reads host:port, :port and [v6]:port', () => {
    expect(parseListenAddress(':8080')).toEqual({ host: '', port: 8080 });
    expect(parseListenAddress('127.0.0.1:9')).toEqual({ host: '127.0.0.1', port: 9 });
    expect(parseListenAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
  });

  it('rejects what is not an address', () => {
    expect(() => parseListenAddress('localhost')).toThrow(/invalid listen address/);
    expect(() => parseListenAddress(':99999')).toThrow(/invalid listen address/);
  });
});

describe('serveEndpoints', () => {
  it('serves metrics and both probes', async () => {
    let ready = false;
    const server = await serveEndpoints('127.0.0.1:0', new Registry(), {
      healthy: () => true,
      ready: () => ready,
    });
    const { port } = server.address() as { port: number };
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
    try {
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/readyz')).status).toBe(503);
      ready = true;
      expect((await get('/readyz')).status).toBe(200);
      expect((await get('/metrics')).status).toBe(200);
      expect((await get('/nope')).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
