import { execFileSync } from 'node:child_process';
import { chmod, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type KubeError, type Rest, sleep } from '@selective-ksm/kube';
import { OwnedProcess } from '../controlplane/index.ts';
import type { Command, GuestPlan } from './guest.ts';

// The host's side of the VM node: prepares a run folder the VM can read
// (the host's / is shared read-only, but /tmp is the VM's own, so the folder
// lives in the cache), boots the patched kernel with qemu user networking
// that only reaches the apiserver on the host's loopback, and talks to the
// guest controller (guest.ts) through a ConfigMap.

export const repo = join(import.meta.dirname, '..', '..');
const cache = process.env['SKSM_CACHE'] ?? join(homedir(), '.cache', 'selective-ksm');

/** The address the VM dials to reach the apiserver; qemu relays it to 127.0.0.1. */
export const HOST_ALIAS = '10.0.2.100';

export interface RunFolder {
  dir: string;
  guestImageBin: string;
  imageFile: string;
}

/**
 * A fresh run folder with the guest-image program and its "guest image":
 * the test kernel itself followed by 24 MiB of a compressed source archive,
 * real content like a kernel and initrd.
 */
export async function prepareRun(name: string): Promise<RunFolder> {
  const dir = join(cache, 'e2e', name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const guestImageBin = join(dir, 'guest-image');
  execFileSync('gcc', [
    '-static',
    '-O2',
    '-Wall',
    '-o',
    guestImageBin,
    join(repo, 'test/e2e/workloads/guest-image.c'),
  ]);
  const kernel = execFileSync(join(repo, 'kernel-module/scripts/kernel-build.sh'), {
    encoding: 'utf8',
  }).trim();
  const archive = Buffer.alloc(24 * 2 ** 20);
  const fd = await open('/usr/src/linux-source-6.12.tar.xz', 'r');
  await fd.read(archive, 0, archive.length, 0);
  await fd.close();
  const imageFile = join(dir, 'guest.img');
  await writeFile(imageFile, Buffer.concat([await readFile(kernel), archive]));
  return { dir, guestImageBin, imageFile };
}

/** Writes a kubeconfig for the VM: the same credentials, the apiserver at HOST_ALIAS. */
export async function vmKubeconfig(source: string, target: string, apiPort: number): Promise<void> {
  const text = await readFile(source, 'utf8');
  await writeFile(
    target,
    text.replaceAll(/https:\/\/127\.0\.0\.1:\d+/g, `https://${HOST_ALIAS}:${apiPort}`),
    {
      mode: 0o644,
    },
  );
}

export interface VmOptions {
  run: RunFolder;
  plan: GuestPlan;
  apiPort: number;
  /** Host loopback port forwarded to the agent's metrics port in the VM. */
  metricsPort: number;
  memory?: string;
  logFile: string;
}

export async function bootVm(o: VmOptions): Promise<OwnedProcess> {
  await writeFile(join(o.run.dir, 'plan.json'), JSON.stringify(o.plan, null, 2));
  // qemu runs this for each connection the guest opens to HOST_ALIAS.
  const relay = join(o.run.dir, 'relay.sh');
  await writeFile(
    relay,
    `#!/bin/sh\nexec ${process.execPath} ${join(repo, 'test/e2e/workloads/relay.js')} ${o.apiPort}\n`,
  );
  await chmod(relay, 0o755);
  const netdev = [
    'user,id=e2e,restrict=on',
    `guestfwd=tcp:${HOST_ALIAS}:${o.apiPort}-cmd:${relay}`,
    `hostfwd=tcp:127.0.0.1:${o.metricsPort}-:8081`,
  ].join(',');
  return new OwnedProcess(
    'vm',
    join(repo, 'kernel-module/scripts/vm-run.sh'),
    [o.plan.nodeBin, join(repo, 'test/e2e/guest.ts'), o.run.dir],
    o.logFile,
    {
      group: true,
      env: {
        ...process.env,
        SKSM_VM_MEMORY: o.memory ?? '3G',
        SKSM_VM_TIMEOUT: '1800',
        SKSM_VM_QEMU_ARGS: `-netdev ${netdev} -device virtio-net-pci,netdev=e2e`,
        SKSM_VM_LOG: join(o.run.dir, 'console.log'),
      },
    },
  );
}

/** Sends a command to the guest and waits for its result. */
export async function guest<T>(
  rest: Rest,
  cmd: Omit<Command, 'seq'>,
  timeoutMs = 300_000,
): Promise<T> {
  const path = '/api/v1/namespaces/default/configmaps';
  const current = await rest
    .get<{ data?: { command?: string } }>(`${path}/e2e-guest`)
    .catch((err: KubeError) => {
      if (err.status !== 404) throw err;
      return undefined;
    });
  const seq = (current?.data?.command ? (JSON.parse(current.data.command) as Command).seq : 0) + 1;
  const body = { data: { command: JSON.stringify({ ...cmd, seq }) } };
  if (current) await rest.patch(`${path}/e2e-guest`, 'merge', body);
  else await rest.create(path, { metadata: { name: 'e2e-guest' }, ...body });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await rest
      .get<{ data?: { seq?: string; result?: string } }>(`${path}/e2e-guest-result`)
      .catch(() => undefined);
    if (Number(res?.data?.seq) === seq) return JSON.parse(res?.data?.result ?? 'null') as T;
    await sleep(500);
  }
  throw new Error(`the guest did not answer ${cmd.name} within ${timeoutMs / 1000} s`);
}
