import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A server process owned by this Node process. It is started through
 * `setpriv --pdeathsig KILL`, so the kernel kills it when its parent dies
 * for any reason, a crashed or killed test runner included: no test run
 * leaves an etcd or apiserver behind.
 */
export class OwnedProcess {
  readonly name: string;
  readonly logFile: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private readonly group: boolean;

  /**
   * `group`: run it in a process group of its own and signal the whole group,
   * for a script whose own children must stop with it (qemu under vm-run.sh).
   */
  constructor(
    name: string,
    command: string,
    args: string[],
    logFile: string,
    opts: { env?: NodeJS.ProcessEnv; group?: boolean } = {},
  ) {
    this.name = name;
    this.logFile = logFile;
    this.group = opts.group ?? false;
    const log = createWriteStream(logFile, { flags: 'a' });
    this.child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      detached: this.group,
    });
    this.child.stdout?.pipe(log);
    this.child.stderr?.pipe(log);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        log.write(`spawn failed: ${err.message}\n`);
        this.exitCode = null;
        resolve(null);
      });
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : null);
        resolve(this.exitCode);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Has the process exited (crashed, or stopped)? */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Sends a signal without waiting, to simulate a crash. */
  kill(signal: NodeJS.Signals): void {
    this.signal(signal);
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.group && this.child.pid) {
      try {
        process.kill(-this.child.pid, signal);
      } catch {
        // The group is gone already.
      }
    } else {
      this.child.kill(signal);
    }
  }

  async waitExit(): Promise<number | null> {
    return this.exited;
  }
}

/** Is a process with this PID still there? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Polls `probe` until it returns true, or throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const cause = last instanceof Error ? `: ${last.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}
