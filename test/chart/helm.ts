import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { toolsDir } from '../controlplane/index.ts';

// Helm and kubectl from the tools cache, run on the chart in the tree.

export const CHART = join(import.meta.dirname, '..', '..', 'charts', 'selective-ksm');
export const KUBE_VERSION = '1.37.2';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit. */
export function run(
  command: string,
  args: string[],
  opts: { input?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      {
        env: { ...process.env, ...opts.env },
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 2 ** 20,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && code === -1) reject(err);
        else resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export const helmPath = () => join(toolsDir(), 'helm');
export const kubectlPath = () => join(toolsDir(), 'kubectl');

/** `helm` with a private home, so no user configuration or repository leaks in. */
export async function helm(args: string[]): Promise<RunResult> {
  const home = await mkdtemp(join(tmpdir(), 'sksm-helm-'));
  try {
    return await run(helmPath(), args, {
      env: {
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
      },
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  values?: object;
  /** Pretend the cluster serves the Prometheus Operator's API. */
  monitoring?: boolean;
}

/** `helm template` arguments for these options (values go through a file). */
async function templateArgs(o: RenderOptions, dir: string): Promise<string[]> {
  const args = [
    'template',
    o.release ?? 'chart-test',
    CHART,
    '--namespace',
    o.namespace ?? 'sksm-chart',
    '--kube-version',
    KUBE_VERSION,
  ];
  if (o.values) {
    // JSON, a subset of YAML: Helm reads YAML 1.1, where an unquoted `yes`
    // from a YAML 1.2 writer would turn into a boolean.
    const file = join(dir, 'values.json');
    await writeFile(file, JSON.stringify(o.values));
    args.push('--values', file);
  }
  if (o.monitoring) args.push('--api-versions', 'monitoring.coreos.com/v1');
  return args;
}

/** `helm template`, raw. */
export async function template(o: RenderOptions = {}): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sksm-values-'));
  try {
    return await helm(await templateArgs(o, dir));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `helm template`, parsed; throws with Helm's message if rendering fails. */
export async function render(o: RenderOptions = {}): Promise<{ text: string; docs: Manifest[] }> {
  const r = await template(o);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  const docs: Manifest[] = [];
  for (const doc of parseAllDocuments(r.stdout)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value) docs.push(value);
  }
  return { text: r.stdout, docs };
}

/** The one manifest of this kind and name; throws if there is not exactly one. */
export function find(docs: Manifest[], kind: string, name?: string): Manifest {
  const hits = docs.filter(
    (d) => d.kind === kind && (name === undefined || d.metadata.name === name),
  );
  if (hits.length !== 1) {
    throw new Error(`expected one ${kind} ${name ?? ''}, found ${hits.length}`);
  }
  return hits[0] as Manifest;
}

/** kubectl with the given kubeconfig; manifests are passed on stdin. */
export async function kubectl(
  kubeconfig: string,
  args: string[],
  manifests?: Manifest[],
): Promise<RunResult> {
  // JSON documents: kubectl reads YAML 1.1, where `yes` is a boolean.
  const input = manifests?.map((m) => `---\n${JSON.stringify(m)}\n`).join('');
  return run(kubectlPath(), ['--kubeconfig', kubeconfig, ...args], {
    ...(input === undefined ? {} : { input }),
  });
}

export const chartFile = (path: string) => readFile(join(CHART, path), 'utf8');
