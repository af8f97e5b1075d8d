import { join } from 'node:path';
import { sameCgroup, unifiedCgroup } from './cgroup.ts';
import { readSmall } from './procfs.ts';

// A PID names a process only until it exits: the number can then be given
// to another. The agent checks that the process it is about to merge is the
// one it resolved (same start time, still in the container's cgroup), and
// again afterwards: if the PID changed hands during the call, the newcomer's
// pages were merged by mistake and are unmerged at once.

export interface ProcessIdentity {
  pid: number;
  /** Clock ticks after boot (field 22 of /proc/PID/stat). */
  startTime: string;
  cgroup: string;
}

/** Field 22 of /proc/PID/stat; the command name (field 2) may contain spaces and ')'. */
export function startTimeOf(stat: string): string | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

export async function readIdentity(
  proc: string,
  pid: number,
): Promise<ProcessIdentity | undefined> {
  const stat = readSmall(join(proc, String(pid), 'stat'));
  const cgroup = readSmall(join(proc, String(pid), 'cgroup'));
  const startTime = stat === undefined ? undefined : startTimeOf(stat);
  const unified = cgroup === undefined ? undefined : unifiedCgroup(cgroup);
  if (startTime === undefined || unified === undefined) return undefined;
  return { pid, startTime, cgroup: unified };
}

/** Is `now` still the process `before` was, in the container cgroup `cgroup`? */
export function sameProcess(
  before: ProcessIdentity,
  now: ProcessIdentity | undefined,
  cgroup: string,
): boolean {
  return (
    now !== undefined &&
    now.pid === before.pid &&
    now.startTime === before.startTime &&
    sameCgroup(cgroup, now.cgroup)
  );
}
