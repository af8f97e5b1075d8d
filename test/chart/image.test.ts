import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AGENT_NAME, agentClusterRules } from '../../node-agent/src/rbac.ts';
import {
  adminConfig,
  type ControlPlaneInfo,
  freePort,
  installServiceAccount,
  OwnedProcess,
  waitFor,
} from '../controlplane/index.ts';
import { api } from '../controlplane/objects.ts';
import { writeHost } from '../fixtures/host.ts';
import { installOperatorRbac, OPERATOR_NAMESPACE } from '../operator/harness.ts';
import { run } from './helm.ts';

// There is no container engine here, so this carries out the Dockerfile
// itself: each stage is a folder standing for its filesystem, COPY copies
// from the repository (or an earlier stage), RUN runs its command as written
// in the stage's WORKDIR, with npm offline (from this machine's npm cache, as
// the Dockerfile's cache mount would be). Then both entry points are started
// from the production stage, the way the chart starts them.

const repo = resolve(import.meta.dirname, '..', '..');

interface Stage {
  name: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  cmd?: string[];
}

/** Joins the Dockerfile's continuation lines and drops comments and the parser directive. */
function instructions(text: string): { op: string; args: string }[] {
  const out: { op: string; args: string }[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    current += line.endsWith('\\') ? `${line.slice(0, -1)} ` : line;
    if (line.endsWith('\\')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(current);
    if (m) out.push({ op: (m[1] ?? '').toUpperCase(), args: m[2] ?? '' });
    current = '';
  }
  return out;
}

/** Builds every stage in `base`; returns them by name. */
async function buildDockerfile(base: string): Promise<Map<string, Stage>> {
  const lines = instructions(await readFile(join(repo, 'Dockerfile'), 'utf8'));
  const args: Record<string, string> = {};
  const stages = new Map<string, Stage>();
  let stage: Stage | undefined;
  const at = (s: Stage, path: string) =>
    join(s.root, path.startsWith('/') ? path : join(s.workdir, path));
  for (const { op, args: rest } of lines) {
    const sub = (s: string) => s.replace(/\$\{(\w+)\}/g, (_m, k: string) => args[k] ?? '');
    switch (op) {
      case 'ARG': {
        const [k, v] = rest.split('=');
        if (k) args[k] = v ?? '';
        break;
      }
      case 'FROM': {
        const m = /^(\S+)\s+AS\s+(\S+)$/i.exec(sub(rest));
        if (!m?.[1]?.startsWith('node:24'))
          throw new Error(`stages must start from node:24: ${rest}`);
        const name = m[2] ?? '';
        stage = { name, root: join(base, name), workdir: '/', env: {} };
        await mkdir(stage.root, { recursive: true });
        stages.set(name, stage);
        break;
      }
      case 'WORKDIR':
        if (!stage) throw new Error('WORKDIR before FROM');
        stage.workdir = rest;
        await mkdir(at(stage, '.'), { recursive: true });
        break;
      case 'ENV': {
        if (!stage) throw new Error('ENV before FROM');
        const [k, v] = rest.split('=');
        if (k) stage.env[k] = v ?? '';
        break;
      }
      case 'COPY': {
        if (!stage) throw new Error('COPY before FROM');
        const words = rest.split(/\s+/);
        const from = words[0]?.startsWith('--from=') ? words.shift()?.slice(7) : undefined;
        const dest = words.pop() ?? '';
        const source = from === undefined ? undefined : stages.get(from);
        if (from !== undefined && !source) throw new Error(`COPY --from=${from}: no such stage`);
        for (const src of words) {
          const path = source ? join(source.root, src) : join(repo, src);
          const name = src.split('/').filter(Boolean).pop() ?? '';
          // Docker: a destination ending in / (or a list of sources) is a folder.
          const target =
            dest.endsWith('/') || words.length > 1 ? join(at(stage, dest), name) : at(stage, dest);
          await cp(path, target, { recursive: true, verbatimSymlinks: true });
        }
        break;
      }
      case 'RUN': {
        if (!stage) throw new Error('RUN before FROM');
        const command = rest.replace(/^(--mount=\S+\s+)+/, '');
        const r = await run('sh', ['-c', command], {
          cwd: at(stage, '.'),
          env: { ...stage.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
          timeoutMs: 60_000,
        });
        if (r.code !== 0)
          throw new Error(`RUN ${command}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        break;
      }
      case 'USER':
        if (stage) stage.user = rest;
        break;
      case 'CMD':
        if (stage) stage.cmd = JSON.parse(rest) as string[];
        break;
      default:
        throw new Error(`Dockerfile instruction this test does not know: ${op}`);
    }
  }
  return stages;
}

let base: string;
let app: string;
let production: Stage;
let info: ControlPlaneInfo;
const processes: OwnedProcess[] = [];

/** Starts an entry point of the image as the chart does (command and NODE_OPTIONS). */
function start(name: string, entry: string, args: string[]): OwnedProcess {
  const env = { ...production.env, NODE_OPTIONS: '--max-semi-space-size=4' };
  // OwnedProcess takes no cwd or env: `env -C` sets both for the child.
  const p = new OwnedProcess(
    name,
    'env',
    [
      '-C',
      app,
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      entry,
      ...args,
    ],
    join(base, `${name}.log`),
  );
  processes.push(p);
  return p;
}

async function healthz(port: number): Promise<number | undefined> {
  return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status;
}

beforeAll(async () => {
  info = inject('controlPlane');
  base = await mkdtemp(join(tmpdir(), 'sksm-image-'));
  const stages = await buildDockerfile(base);
  const last = [...stages.values()].pop();
  if (!last) throw new Error('the Dockerfile has no stage');
  production = last;
  app = join(production.root, production.workdir);
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  const k = api(adminConfig(info));
  await k.deleteNode('image-node').catch(() => undefined);
  await k.core.deleteNode({ name: 'image-node' }).catch(() => undefined);
  await rm(base, { recursive: true, force: true });
});

describe('the image (Dockerfile stages built as folders)', () => {
  it('holds dist/ and runtime dependencies only, runs as a non-root user, starts the operator', async () => {
    expect(production.name).toBe('production');
    expect(production.env['NODE_ENV']).toBe('production');
    expect(production.user).toBe('1000:1000');
    expect(production.cmd).toEqual(['node', 'dist/operator/src/main.js']);
    const modules = await readdir(join(app, 'node_modules'));
    for (const dep of ['zod', 'prom-client', 'yaml', '@kubernetes']) expect(modules).toContain(dep);
    for (const dev of ['typescript', 'vitest', '@biomejs', 'fast-check']) {
      expect(modules).not.toContain(dev);
    }
    // Compiled JavaScript only: no TypeScript source in the image.
    const files = await readdir(join(app, 'dist'), { recursive: true });
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files).toContain(join('operator', 'src', 'main.js'));
    expect(files).toContain(join('node-agent', 'src', 'main.js'));
  });

  for (const [name, entry, usage] of [
    ['operator', 'dist/operator/src/main.js', 'usage: selective-ksm-operator'],
    ['agent', 'dist/node-agent/src/main.js', 'usage: selective-ksm-agent'],
  ] as const) {
    it(`${name}: --help prints the usage and exits 0`, async () => {
      const r = await run(process.execPath, [entry, '--help'], {
        cwd: app,
        env: { NODE_ENV: 'production' },
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(usage);
    });
  }

  it('operator: starts against the control plane, serves /healthz and takes the lease', async () => {
    const kubeconfig = await installOperatorRbac(info, 'image-test-leader');
    const port = await freePort();
    const p = start('operator', 'dist/operator/src/main.js', [
      `--kubeconfig=${kubeconfig}`,
      `--metrics-address=127.0.0.1:${port}`,
      `--leader-election-namespace=${OPERATOR_NAMESPACE}`,
      '--leader-election-id=image-test-leader',
      '--identity=image-test',
    ]);
    await waitFor(
      'the operator from the image to serve /healthz',
      async () => {
        if (!p.running) throw new Error(`it exited; see ${p.logFile}`);
        return (await healthz(port)) === 200;
      },
      20_000,
    );
    await waitFor(
      'the operator from the image to lead',
      async () =>
        /^selective_ksm_operator_leader 1$/m.test(
          await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
        ),
      20_000,
    );
  });

  it('agent: starts against the control plane on a fixture host and serves /healthz', async () => {
    await api(adminConfig(info))
      .createNode('image-node')
      .catch(() => undefined);
    const host = join(base, 'host');
    await writeHost(host, { driver: 'systemd', pods: [] });
    const kubeconfig = await installServiceAccount(info, {
      namespace: 'selective-ksm',
      name: AGENT_NAME,
      clusterRules: agentClusterRules,
    });
    const port = await freePort();
    const p = start('agent', 'dist/node-agent/src/main.js', [
      '--node-name=image-node',
      `--host-root=${host}`,
      `--kubeconfig=${kubeconfig}`,
      `--metrics-address=127.0.0.1:${port}`,
    ]);
    await waitFor(
      'the agent from the image to serve /healthz',
      async () => {
        if (!p.running) throw new Error(`it exited; see ${p.logFile}`);
        return (await healthz(port)) === 200;
      },
      20_000,
    );
    await waitFor(
      'the agent from the image to be ready',
      async () =>
        (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
      20_000,
    );
  });
});
