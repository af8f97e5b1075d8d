import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { Connection } from './kubeconfig.ts';

// A small REST client for the apiserver. The typed client re-serializes
// objects through its own models, which drops fields it does not know (CRD
// schemas, our status); this one sends and returns plain JSON, streams
// watches, and asks for metadata-only lists where that is all we need.

/** An error answer of the apiserver (a metav1.Status), or a transport failure (status 0). */
export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;

  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeError';
    this.status = status;
    this.reason = reason;
  }
}

export const PATCH = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** Accept headers that turn a list or watch into PartialObjectMetadata. */
export const METADATA_ONLY = {
  list: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json',
  watch: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json',
} as const;

export interface RequestOpts {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

function withQuery(path: string, query: RequestOpts['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined) params.set(k, String(v));
  }
  const q = params.toString();
  return q ? `${path}${path.includes('?') ? '&' : '?'}${q}` : path;
}

function errorFrom(status: number, body: string): KubeError {
  try {
    const s = JSON.parse(body) as { reason?: string; message?: string };
    return new KubeError(status, s.reason ?? 'Unknown', s.message ?? body);
  } catch {
    return new KubeError(status, 'Unknown', body.slice(0, 500) || `HTTP ${status}`);
  }
}

export class Rest {
  private readonly conn: Connection;
  private readonly server: string;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  private readonly userAgent: string;

  constructor(conn: Connection, userAgent: string) {
    this.conn = conn;
    this.server = conn.server.replace(/\/$/, '');
    this.userAgent = userAgent;
  }

  private async options(method: string, opts: RequestOpts): Promise<RequestOptions> {
    const headers: Record<string, string> = {
      accept: opts.accept ?? 'application/json',
      'user-agent': this.userAgent,
    };
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    if (this.conn.token) headers['authorization'] = `Bearer ${this.conn.token()}`;
    const o: RequestOptions = { method, headers, agent: this.agent };
    if (this.conn.ca) o.ca = this.conn.ca;
    if (this.conn.cert) o.cert = this.conn.cert;
    if (this.conn.key) o.key = this.conn.key;
    if (this.conn.insecureSkipTlsVerify) o.rejectUnauthorized = false;
    return o;
  }

  /** One request; resolves with the parsed JSON body, rejects with a {@link KubeError}. */
  async request<T>(method: string, path: string, opts: RequestOpts = {}): Promise<T> {
    const o = await this.options(method, opts);
    const url = this.server + withQuery(path, opts.query);
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    return new Promise<T>((resolve, reject) => {
      const req = httpsRequest(url, { ...o, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new KubeError(0, 'Transport', err.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } else {
            reject(errorFrom(status, text));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`timed out: ${method} ${path}`)));
      req.on('error', (err) => reject(new KubeError(0, 'Transport', err.message)));
      if (opts.signal) {
        opts.signal.addEventListener('abort', () => req.destroy(new Error('aborted')), {
          once: true,
        });
      }
      req.end(payload);
    });
  }

  get<T>(path: string, opts?: RequestOpts): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  create<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  patch<T>(
    path: string,
    type: keyof typeof PATCH,
    body: unknown,
    query?: RequestOpts['query'],
  ): Promise<T> {
    return this.request<T>('PATCH', path, {
      body,
      contentType: PATCH[type],
      ...(query ? { query } : {}),
    });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /**
   * Streams a watch: calls `onEvent` for each JSON line until the server
   * ends the stream (resolves) or it breaks (rejects). Abort to stop.
   */
  async watch(
    path: string,
    opts: RequestOpts,
    onEvent: (event: { type: string; object: unknown }) => void,
  ): Promise<void> {
    const o = await this.options('GET', opts);
    const url = this.server + withQuery(path, opts.query);
    return new Promise<void>((resolve, reject) => {
      const req = httpsRequest(url, o, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(errorFrom(status, Buffer.concat(chunks).toString('utf8'))));
          return;
        }
        res.setEncoding('utf8');
        let buffered = '';
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl = buffered.indexOf('\n');
          while (nl >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line) {
              try {
                onEvent(JSON.parse(line) as { type: string; object: unknown });
              } catch (err) {
                // The consumer refused the stream (e.g. 410 Gone): end it.
                req.destroy();
                reject(err);
                return;
              }
            }
            nl = buffered.indexOf('\n');
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => reject(new KubeError(0, 'Transport', err.message)));
      });
      // A silent connection (a peer gone without a reset) ends the watch too.
      if (opts.timeoutMs) {
        req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`watch idle: ${path}`)));
      }
      req.on('error', (err) => reject(new KubeError(0, 'Transport', err.message)));
      if (opts.signal) {
        if (opts.signal.aborted) req.destroy(new Error('aborted'));
        opts.signal.addEventListener('abort', () => req.destroy(new Error('aborted')), {
          once: true,
        });
      }
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
