import { backoffDelay, sleep } from './backoff.ts';
import type { Logger } from './log.ts';
import { KubeError, METADATA_ONLY, type Rest } from './rest.ts';

// A list+watch cache of one resource, kept current for as long as the
// process runs: watches resume from the last resourceVersion, a 410 Gone
// (history compacted) relists and reports what changed meanwhile, and any
// other failure retries with backoff. The client library's informer stops
// for good on errors other than 410; this one does not.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

interface RawObject {
  metadata?: ObjectMeta;
}

export type Change<T> =
  | { type: 'added'; key: string; object: T }
  | { type: 'modified'; key: string; object: T; old: T }
  | { type: 'deleted'; key: string; old: T };

export interface ReflectorOptions<T> {
  /** Names the resource in logs and metrics, e.g. "pods". */
  name: string;
  /** The collection path, e.g. /api/v1/pods. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Ask for PartialObjectMetadata: labels and names only, a fraction of the memory. */
  metadataOnly?: boolean;
  /** Keeps what the caller needs of an object; the rest is dropped. */
  transform: (raw: unknown) => T;
  onChange: (change: Change<T>) => void;
  log: Logger;
  onRestart?: (reason: string) => void;
  pageSize?: number;
  watchTimeoutSeconds?: number;
}

class Gone extends Error {}

export function objectKey(meta: ObjectMeta | undefined): string {
  const name = meta?.name ?? '';
  return meta?.namespace ? `${meta.namespace}/${name}` : name;
}

export class Reflector<T> {
  readonly store = new Map<string, T>();
  private readonly versions = new Map<string, string>();
  private readonly opts: ReflectorOptions<T>;
  private readonly abort = new AbortController();
  private resourceVersion: string | undefined;
  private loop: Promise<void> | undefined;
  private syncedResolve: (() => void) | undefined;
  private readonly syncedPromise: Promise<void>;
  private isSynced = false;
  private readonly rest: Rest;

  constructor(rest: Rest, opts: ReflectorOptions<T>) {
    this.rest = rest;
    this.opts = opts;
    this.syncedPromise = new Promise((resolve) => {
      this.syncedResolve = resolve;
    });
  }

  get synced(): boolean {
    return this.isSynced;
  }

  /** Resolves after the first complete list. */
  whenSynced(): Promise<void> {
    return this.syncedPromise;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { log, name } = this.opts;
    let attempt = 0;
    while (!this.abort.signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.relist();
        attempt = 0;
        await this.watch();
      } catch (err) {
        if (this.abort.signal.aborted) break;
        if (err instanceof Gone) {
          log.info('watch history expired; relisting', { resource: name });
          this.resourceVersion = undefined;
          this.opts.onRestart?.('gone');
          continue;
        }
        const delay = backoffDelay(attempt++, 500, 30_000);
        log.warn('watch failed; retrying', {
          resource: name,
          error: (err as Error).message,
          retryInMs: delay,
        });
        this.opts.onRestart?.('error');
        await sleep(delay, this.abort.signal);
      }
    }
  }

  private selectors(): Record<string, string | undefined> {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private async relist(): Promise<void> {
    const seen = new Map<string, { raw: RawObject; version: string }>();
    let token: string | undefined;
    let listVersion = '';
    do {
      const page = await this.rest
        .get<{
          metadata: { resourceVersion: string; continue?: string };
          items: RawObject[] | null;
        }>(this.opts.path, {
          query: { ...this.selectors(), limit: this.opts.pageSize ?? 500, continue: token },
          ...(this.opts.metadataOnly ? { accept: METADATA_ONLY.list } : {}),
          signal: this.abort.signal,
        })
        .catch((err: unknown) => {
          // An expired continue token: start the list again.
          if (err instanceof KubeError && err.status === 410) throw new Gone();
          throw err;
        });
      // An empty metadata-only list comes with `items: null`.
      for (const raw of page.items ?? []) {
        seen.set(objectKey(raw.metadata), { raw, version: raw.metadata?.resourceVersion ?? '' });
      }
      token = page.metadata.continue || undefined;
      listVersion = page.metadata.resourceVersion;
    } while (token);

    for (const [key, old] of [...this.store]) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.versions.delete(key);
        this.opts.onChange({ type: 'deleted', key, old });
      }
    }
    for (const [key, { raw, version }] of seen) {
      if (this.versions.get(key) !== version) this.apply('ADDED', raw);
    }
    this.resourceVersion = listVersion;
    if (!this.isSynced) {
      this.isSynced = true;
      this.opts.log.info('cache synced', { resource: this.opts.name, objects: this.store.size });
      this.syncedResolve?.();
    }
  }

  private async watch(): Promise<void> {
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300;
    await this.rest
      .watch(
        this.opts.path,
        {
          query: {
            ...this.selectors(),
            watch: 1,
            allowWatchBookmarks: true,
            resourceVersion: this.resourceVersion,
            timeoutSeconds,
          },
          ...(this.opts.metadataOnly ? { accept: METADATA_ONLY.watch } : {}),
          timeoutMs: (timeoutSeconds + 30) * 1000,
          signal: this.abort.signal,
        },
        (event) => {
          const raw = event.object as RawObject & { code?: number; message?: string };
          switch (event.type) {
            case 'BOOKMARK':
              this.resourceVersion = raw.metadata?.resourceVersion ?? this.resourceVersion;
              return;
            case 'ERROR':
              if (raw.code === 410) throw new Gone();
              throw new KubeError(raw.code ?? 0, 'WatchError', raw.message ?? 'watch error');
            default:
              this.apply(event.type, raw);
          }
        },
      )
      .catch((err: unknown) => {
        if (err instanceof KubeError && err.status === 410) throw new Gone();
        throw err;
      });
  }

  private apply(type: string, raw: RawObject): void {
    const key = objectKey(raw.metadata);
    const old = this.store.get(key);
    this.resourceVersion = raw.metadata?.resourceVersion ?? this.resourceVersion;
    if (type === 'DELETED') {
      if (old === undefined) return;
      this.store.delete(key);
      this.versions.delete(key);
      this.opts.onChange({ type: 'deleted', key, old });
      return;
    }
    const object = this.opts.transform(raw);
    this.store.set(key, object);
    this.versions.set(key, raw.metadata?.resourceVersion ?? '');
    this.opts.onChange(
      old === undefined ? { type: 'added', key, object } : { type: 'modified', key, object, old },
    );
  }
}
