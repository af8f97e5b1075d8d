import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createServiceAccountKey, issueCertificate } from './certs.ts';
import { kubeRequest, type RawResponse } from './http.ts';
import { adminConfig, type ControlPlaneInfo, writeKubeconfig } from './kubeconfig.ts';
import { freePort, OwnedProcess, waitFor } from './process.ts';

/** Where `make tools` put kube-apiserver, etcd and kubectl. */
export function toolsDir(): string {
  const dir = process.env['SKSM_TOOLS'];
  if (!dir) throw new Error('SKSM_TOOLS is not set: run the tests through make (make test)');
  for (const tool of ['etcd', 'kube-apiserver']) {
    if (!existsSync(join(dir, tool))) {
      throw new Error(`${join(dir, tool)} is missing: run \`make tools\``);
    }
  }
  return dir;
}

export interface StartOptions {
  /** Directory for certificates, data and logs; a new temporary one if omitted. */
  dir?: string;
  /** Printed as the control plane comes up. */
  progress?: (line: string) => void;
}

/**
 * A real etcd and kube-apiserver on loopback, set up the way envtest does:
 * RBAC on, client-certificate authentication, service account tokens.
 * Everything it starts is stopped by {@link ControlPlane.stop} or, if this
 * process dies first, by the kernel (see {@link OwnedProcess}).
 */
export class ControlPlane {
  readonly info: ControlPlaneInfo;
  private etcd: OwnedProcess;
  private apiserver: OwnedProcess;
  private readonly apiserverArgs: string[];
  private readonly ownsDir: boolean;

  private constructor(
    info: ControlPlaneInfo,
    etcd: OwnedProcess,
    apiserver: OwnedProcess,
    apiserverArgs: string[],
    ownsDir: boolean,
  ) {
    this.info = info;
    this.etcd = etcd;
    this.apiserver = apiserver;
    this.apiserverArgs = apiserverArgs;
    this.ownsDir = ownsDir;
  }

  static async start(opts: StartOptions = {}): Promise<ControlPlane> {
    const say = opts.progress ?? (() => {});
    const tools = toolsDir();
    const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'sksm-controlplane-')));
    await mkdir(join(dir, 'etcd'), { recursive: true });
    const started = Date.now();

    say(`control plane: certificates in ${dir}`);
    const ca = await createCa(dir);
    const serving = await issueCertificate(dir, 'apiserver', {
      commonName: 'kube-apiserver',
      // 10.0.2.100: where a test VM reaches it through qemu's guestfwd.
      serverNames: ['IP:127.0.0.1', 'DNS:localhost', 'IP:10.0.2.100'],
    });
    const admin = await issueCertificate(dir, 'admin', {
      commonName: 'admin',
      organizations: ['system:masters'],
    });
    const sa = await createServiceAccountKey(dir);

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    say(`control plane: etcd on ${etcdUrl}`);
    const etcd = new OwnedProcess(
      'etcd',
      join(tools, 'etcd'),
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      join(dir, 'etcd.log'),
    );

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--cert-dir=${dir}`,
      `--tls-cert-file=${serving.cert}`,
      `--tls-private-key-file=${serving.key}`,
      `--client-ca-file=${ca.cert}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${sa.cert}`,
      `--service-account-signing-key-file=${sa.key}`,
      '--endpoint-reconciler-type=none',
      '--v=1',
    ];
    const info: ControlPlaneInfo = {
      dir,
      server,
      caFile: ca.cert,
      caKeyFile: ca.key,
      adminCertFile: admin.cert,
      adminKeyFile: admin.key,
      kubeconfig: join(dir, 'admin.kubeconfig'),
    };
    await writeKubeconfig(info.kubeconfig, info, 'admin', admin);

    say(`control plane: kube-apiserver on ${server}`);
    const apiserver = startApiserver(tools, apiserverArgs, dir);
    const plane = new ControlPlane(info, etcd, apiserver, apiserverArgs, opts.dir === undefined);
    try {
      await plane.waitReady();
    } catch (err) {
      await plane.stop();
      throw err;
    }
    say(`control plane: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return plane;
  }

  /** Waits until /readyz answers ok, failing early if a process died. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        for (const p of [this.etcd, this.apiserver]) {
          if (!p.running) throw new Error(`${p.name} exited; see ${p.logFile}`);
        }
        return (await this.get('/readyz')).status === 200;
      },
      timeoutMs,
    ).catch(async (err: Error) => {
      const tail = (await readFile(this.apiserver.logFile, 'utf8').catch(() => ''))
        .split('\n')
        .slice(-15)
        .join('\n');
      throw new Error(`${err.message}\n--- ${this.apiserver.logFile} (last lines)\n${tail}`);
    });
  }

  /** A GET with the admin identity, outside the typed client and its retries. */
  async get(path: string): Promise<RawResponse> {
    return kubeRequest(adminConfig(this.info), path);
  }

  /** Stops the apiserver (gracefully, or with SIGKILL to simulate a crash). */
  async stopApiserver(opts: { crash?: boolean } = {}): Promise<void> {
    if (opts.crash) {
      this.apiserver.kill('SIGKILL');
      await this.apiserver.waitExit();
    } else {
      await this.apiserver.stop();
    }
  }

  /** Starts the apiserver again on the same port and data, and waits for it. */
  async restartApiserver(): Promise<void> {
    await this.stopApiserver();
    this.apiserver = startApiserver(toolsDir(), this.apiserverArgs, this.info.dir);
    await this.waitReady();
  }

  async stop(): Promise<void> {
    await this.apiserver.stop();
    await this.etcd.stop();
    if (this.ownsDir) await rm(this.info.dir, { recursive: true, force: true });
  }

  /** Writes the connection details for processes that did not start it. */
  async writeInfo(file: string): Promise<void> {
    await writeFile(file, JSON.stringify(this.info, null, 2));
  }
}

function startApiserver(tools: string, args: string[], dir: string): OwnedProcess {
  return new OwnedProcess(
    'kube-apiserver',
    join(tools, 'kube-apiserver'),
    args,
    join(dir, 'kube-apiserver.log'),
  );
}
