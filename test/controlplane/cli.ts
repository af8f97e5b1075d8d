// `make cluster` / `make cluster-down`: the test control plane, for people.
//
//   node test/controlplane/cli.ts up DIR     start in the background, print how to use it
//   node test/controlplane/cli.ts down DIR   stop it
//   node test/controlplane/cli.ts serve DIR  run in the foreground until SIGTERM
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { argv, exit, stderr, stdout } from 'node:process';
import { ControlPlane } from './controlplane.ts';
import { installCrds } from './crds.ts';
import { adminConfig } from './kubeconfig.ts';
import { alive, waitFor } from './process.ts';

const say = (line: string) => stdout.write(`${line}\n`);

async function runningPid(dir: string): Promise<number | undefined> {
  const text = await readFile(join(dir, 'cluster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

async function serve(dir: string): Promise<void> {
  const planeDir = join(dir, 'controlplane');
  await rm(planeDir, { recursive: true, force: true });
  await mkdir(planeDir, { recursive: true });
  const plane = await ControlPlane.start({ dir: planeDir, progress: say });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('control plane: stopping');
    await plane.stop();
    await rm(join(dir, 'cluster.pid'), { force: true });
    await rm(join(dir, 'kubeconfig'), { force: true });
    exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  try {
    say(`control plane: CRDs ${(await installCrds(adminConfig(plane.info))).join(', ')}`);
  } catch (err) {
    stderr.write(`${(err as Error).message}\n`);
    await stop();
  }
  await copyFile(plane.info.kubeconfig, join(dir, 'kubeconfig'));
  await writeFile(join(dir, 'cluster.pid'), `${process.pid}\n`);
  say('control plane: serving');
}

async function up(dir: string): Promise<number> {
  const pid = await runningPid(dir);
  if (pid !== undefined) {
    say(`already running (pid ${pid}); kubeconfig: ${join(dir, 'kubeconfig')}`);
    return 0;
  }
  await mkdir(dir, { recursive: true });
  await rm(join(dir, 'kubeconfig'), { force: true });
  const logFile = join(dir, 'cluster.log');
  const log = openSync(logFile, 'w');
  const child = spawn(process.execPath, [import.meta.filename, 'serve', dir], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.unref();
  say(`starting etcd and kube-apiserver (log: ${logFile})`);
  try {
    await waitFor(
      'the control plane',
      async () => {
        if (child.exitCode !== null) throw new Error(`it exited; see ${logFile}`);
        return existsSync(join(dir, 'cluster.pid'));
      },
      120_000,
      250,
    );
  } catch (err) {
    stderr.write(`${(err as Error).message}\n${await readFile(logFile, 'utf8')}`);
    return 1;
  }
  say(`ready. Try:\n  kubectl --kubeconfig ${join(dir, 'kubeconfig')} get ksmpartitions`);
  return 0;
}

async function down(dir: string): Promise<number> {
  const pid = await runningPid(dir);
  if (pid === undefined) {
    say('not running');
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  await waitFor(`pid ${pid} to exit`, async () => !alive(pid), 30_000);
  say('stopped');
  return 0;
}

const [command, dirArg] = argv.slice(2);
if (dirArg === undefined || !['up', 'down', 'serve'].includes(command ?? '')) {
  stderr.write('usage: cli.ts up|down|serve DIR\n');
  exit(2);
}
const dir = resolve(dirArg);
if (command === 'serve') await serve(dir);
else exit(command === 'up' ? await up(dir) : await down(dir));
