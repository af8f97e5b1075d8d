import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Range } from './maps.ts';
import { readSmall } from './procfs.ts';

// The kernel's Selective KSM interface (kernel-module/README.md), through
// sysfs. Writes go through libuv's thread pool, so a long merge never blocks
// the event loop. Each request ends in a newline, as `echo` writes it.

export interface PartitionCounters {
  pagesShared: number;
  pagesSharing: number;
  pagesUnshared: number;
  pagesScanned: number;
  mergedProcesses: number;
}

/** A failed kernel call, with the errno and a reason for people and metrics. */
export class KernelError extends Error {
  readonly errno: string;
  readonly reason: string;

  constructor(errno: string, reason: string, message: string) {
    super(message);
    this.name = 'KernelError';
    this.errno = errno;
    this.reason = reason;
  }
}

const reasons: Record<string, [string, string]> = {
  EBUSY: ['BoundElsewhere', 'the process is bound to another partition or uses ksmd'],
  ESRCH: ['ProcessGone', 'the process has exited'],
  EPERM: ['PermissionDenied', 'the agent may not trace this process (CAP_SYS_ADMIN, ptrace)'],
  EACCES: ['PermissionDenied', 'the sysfs file refused access'],
  ENOMEM: ['RangeUnmapped', 'part of the range is not mapped (any more), or memory is short'],
  EINVAL: ['InvalidRequest', 'the kernel refused the request as malformed'],
  EINTR: ['Interrupted', 'the call was interrupted; the work done so far is kept'],
  ENOENT: ['PartitionGone', 'the partition does not exist or is being removed'],
  EEXIST: ['PartitionExists', 'the partition already exists'],
  EDQUOT: ['TooManyPartitions', 'the per-user limit of partitions is reached'],
};

function kernelError(err: unknown, what: string): KernelError {
  const errno = (err as { code?: string }).code ?? 'EIO';
  const [reason, meaning] = reasons[errno] ?? ['KernelError', (err as Error).message];
  return new KernelError(errno, reason, `${what}: ${errno}: ${meaning}`);
}

const hex = (n: bigint) => `0x${n.toString(16)}`;

export class KernelClient {
  /** /sys/kernel/mm/ksm of the host (under /proc/1/root in a container). */
  private readonly ksm: string;
  /** /proc of the host. */
  private readonly proc: string;

  constructor(hostRoot: string) {
    this.ksm = join(hostRoot, 'sys/kernel/mm/ksm');
    this.proc = join(hostRoot, 'proc');
  }

  /** Does the running kernel have CONFIG_SELECTIVE_KSM? */
  async supported(): Promise<boolean> {
    return readdir(join(this.ksm, 'control')).then(
      (files) => files.includes('add_partition'),
      () => false,
    );
  }

  async release(): Promise<string> {
    return (
      await readFile(join(this.proc, 'sys/kernel/osrelease'), 'utf8').catch(() => 'unknown')
    ).trim();
  }

  async partitions(): Promise<string[]> {
    return readdir(join(this.ksm, 'partition')).catch(() => []);
  }

  /**
   * Creates the partition unless it exists, and makes sure it is one the
   * agent made: add_partition makes partitions owned by root with mode 0600,
   * anything else (another user's, or made with other modes through
   * ksm_open) is refused, never merged into.
   */
  async ensurePartition(name: string): Promise<void> {
    try {
      await writeFile(join(this.ksm, 'control/add_partition'), `${name}\n`);
    } catch (err) {
      const e = kernelError(err, `add partition ${name}`);
      if (e.errno !== 'EEXIST') throw e;
    }
    const dir = join(this.ksm, 'partition', name);
    const [owner, mode] = await Promise.all(
      ['owner', 'mode'].map((f) =>
        readFile(join(dir, f), 'utf8').then(
          (t) => t.trim(),
          () => '',
        ),
      ),
    );
    if (owner !== '0 0' || mode !== '0600') {
      throw new KernelError(
        'EEXIST',
        'PartitionNotOurs',
        `partition ${name} is not one the agent made: owner "${owner}", mode "${mode}" (want "0 0" and "0600")`,
      );
    }
  }

  /** Removes the partition, which unmerges its pages; a missing one is fine. */
  async removePartition(name: string): Promise<void> {
    try {
      await writeFile(join(this.ksm, 'control/remove_partition'), `${name}\n`);
    } catch (err) {
      const e = kernelError(err, `remove partition ${name}`);
      if (e.errno !== 'ENOENT') throw e;
    }
  }

  async merge(partition: string, pid: number, range: Range): Promise<void> {
    await this.call(partition, 'merge', pid, range);
  }

  async unmerge(partition: string, pid: number, range: Range): Promise<void> {
    await this.call(partition, 'unmerge', pid, range);
  }

  private async call(partition: string, op: 'merge' | 'unmerge', pid: number, range: Range) {
    const request = `${pid} ${hex(range.start)} ${hex(range.end)}`;
    try {
      await writeFile(join(this.ksm, 'partition', partition, op), `${request}\n`);
    } catch (err) {
      throw kernelError(err, `${op} ${request} in ${partition}`);
    }
  }

  async counters(partition: string): Promise<PartitionCounters> {
    const dir = join(this.ksm, 'partition', partition);
    const read = async (f: string) => Number((await readFile(join(dir, f), 'utf8')).trim());
    const [pagesShared, pagesSharing, pagesUnshared, pagesScanned, mergedProcesses] =
      await Promise.all(
        [
          'pages_shared',
          'pages_sharing',
          'pages_unshared',
          'pages_scanned',
          'merged_processes',
        ].map(read),
      );
    return {
      pagesShared: pagesShared ?? 0,
      pagesSharing: pagesSharing ?? 0,
      pagesUnshared: pagesUnshared ?? 0,
      pagesScanned: pagesScanned ?? 0,
      mergedProcesses: mergedProcesses ?? 0,
    };
  }

  /**
   * The partition a process is bound to, from /proc/PID/ksm_stat
   * ("ksm_partition NAME"); undefined when it is not bound or gone.
   */
  async binding(pid: number): Promise<string | undefined> {
    const text = readSmall(join(this.proc, String(pid), 'ksm_stat')) ?? '';
    const m = /^ksm_partition (\S+)$/m.exec(text);
    return m?.[1] === '-' ? undefined : m?.[1];
  }
}
