import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { MemorySelection } from '@selective-ksm/crds';
import type { CgroupLocator } from './cgroup.ts';
import type { KernelClient } from './kernel.ts';
import { chunk, parseMaps, type Range, selectRanges } from './maps.ts';
import { readSmall } from './procfs.ts';
import type { PodState } from './schedule.ts';

// The I/O half of a pass before any merge: where each container's
// processes are, which partition the kernel has bound them to, and which
// ranges of a process to merge.

export interface Resolved {
  /** Container key → its cgroup, relative to the cgroup mount. */
  cgroups: Map<string, string>;
  /** Container key → its processes. */
  pids: Map<string, number[]>;
  /** Container key → partitions its processes are bound to. */
  bindings: Map<string, Set<string>>;
}

export async function resolveContainers(
  pods: readonly PodState[],
  cgroups: CgroupLocator,
  kernel: KernelClient,
  selfPodUid: string | undefined,
): Promise<Resolved> {
  const out: Resolved = { cgroups: new Map(), pids: new Map(), bindings: new Map() };
  await cgroups.scan();
  for (const pod of pods) {
    if (pod.hostPID || pod.uid === selfPodUid) continue;
    for (const c of pod.containers) {
      await yieldToEventLoop();
      const cgroup = await cgroups.find(pod.uid, c.ref);
      if (!cgroup) continue;
      const list = await cgroups.processes(cgroup);
      out.cgroups.set(c.key, cgroup);
      out.pids.set(c.key, list);
      const bound = new Set<string>();
      for (const b of await Promise.all(list.map((pid) => kernel.binding(pid)))) {
        if (b) bound.add(b);
      }
      if (bound.size > 0) out.bindings.set(c.key, bound);
    }
  }
  return out;
}

/** The chunks of a process's memory to merge; none if it has exited. */
export async function processRanges(
  proc: string,
  pid: number,
  memory: MemorySelection,
  chunkPages: number,
): Promise<Range[]> {
  const maps = readSmall(join(proc, String(pid), 'maps')) ?? '';
  return chunk(selectRanges(parseMaps(maps), memory), chunkPages);
}
