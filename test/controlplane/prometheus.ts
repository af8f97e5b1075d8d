import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, OwnedProcess, waitFor } from './process.ts';

// A real Prometheus (Debian's package) on loopback, scraping the given
// targets every few seconds, and a small client for its query API.

export interface Prometheus {
  url: string;
  process: OwnedProcess;
  /** An instant query; throws on a PromQL error. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

export async function startPrometheus(
  dir: string,
  jobs: Record<string, string[]>,
  opts: { ruleFiles?: string[]; intervalSeconds?: number } = {},
): Promise<Prometheus> {
  await mkdir(join(dir, 'data'), { recursive: true });
  const every = `${opts.intervalSeconds ?? 2}s`;
  await writeFile(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: every, evaluation_interval: every },
      rule_files: opts.ruleFiles ?? [],
      scrape_configs: Object.entries(jobs).map(([job, targets]) => ({
        job_name: job,
        static_configs: [{ targets }],
      })),
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = new OwnedProcess(
    'prometheus',
    '/usr/bin/prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    join(dir, 'prometheus.log'),
  );
  await waitFor(
    'Prometheus to be ready',
    async () => {
      if (!proc.running) throw new Error(`prometheus exited; see ${proc.logFile}`);
      return (await fetch(`${url}/-/ready`)).ok;
    },
    60_000,
  );
  return {
    url,
    process: proc,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? res.status}`);
      return body.data?.result ?? [];
    },
  };
}
