import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ControlPlane } from './controlplane.ts';
import { adminConfig } from './kubeconfig.ts';
import { alive, waitFor } from './process.ts';

/** PIDs of the processes whose command line mentions `dir`. */
async function processesUsing(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir)) pids.push(Number(entry));
  }
  return pids;
}

describe('test control plane', () => {
  it('starts, serves, and leaves nothing behind when stopped', async () => {
    const plane = await ControlPlane.start({ progress: (line) => console.log(line) });
    const { dir } = plane.info;
    expect((await plane.get('/readyz')).status).toBe(200);
    expect((await processesUsing(dir)).length).toBe(2);
    await plane.stop();
    expect(await processesUsing(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it('keeps its data across an apiserver crash and restart', async () => {
    const plane = await ControlPlane.start();
    try {
      const core = adminConfig(plane.info).makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: 'survives' } } });
      await plane.stopApiserver({ crash: true });
      await expect(plane.get('/readyz')).rejects.toThrow();
      await plane.restartApiserver();
      const ns = await core.readNamespace({ name: 'survives' });
      expect(ns.metadata?.name).toBe('survives');
    } finally {
      await plane.stop();
    }
  });

  it('its servers die with the process that started them, even on SIGKILL', async () => {
    const script = [
      `import { ControlPlane } from ${JSON.stringify(join(import.meta.dirname, 'controlplane.ts'))};`,
      'const p = await ControlPlane.start();',
      'console.log(JSON.stringify({ dir: p.info.dir }));',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const dir = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => {
        resolve((JSON.parse(chunk.toString()) as { dir: string }).dir);
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const servers = await processesUsing(dir);
    expect(servers.length).toBe(2);
    child.kill('SIGKILL');
    await waitFor(
      'etcd and kube-apiserver to die',
      async () => servers.every((p) => !alive(p)),
      10_000,
    );
    await rm(dir, { recursive: true, force: true });
  });
});
