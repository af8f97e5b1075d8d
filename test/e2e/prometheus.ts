import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, OwnedProcess, waitFor } from '../controlplane/index.ts';

// A real Prometheus (Debian's package) on loopback, scraping the given
// targets every few seconds, and a small client for its query API.

export interface Prometheus {
  url: string;
  process: OwnedProcess;
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

export async function startPrometheus(
  dir: string,
  jobs: Record<string, string[]>,
): Promise<Prometheus> {
  await mkdir(join(dir, 'data'), { recursive: true });
  const config = [
    'global:',
    '  scrape_interval: 2s',
    '  evaluation_interval: 2s',
    'scrape_configs:',
    ...Object.entries(jobs).flatMap(([job, targets]) => [
      `  - job_name: ${job}`,
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
    ]),
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), `${config}\n`);
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
    ],
    join(dir, 'prometheus.log'),
  );
  await waitFor('prometheus to be ready', async () => (await fetch(`${url}/-/ready`)).ok, 60_000);
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
