import type { Condition, MergeError, NodePartitionReport, NodeStatus } from '@selective-ksm/crds';
import { formatBytes } from '@selective-ksm/crds';
import type { PartitionCounters } from './kernel.ts';

// The KsmNode status this agent publishes, from what it measured. Pure.

export interface PartitionFacts {
  name: string;
  counters?: PartitionCounters | undefined;
  pods: number;
  lastMerge?: string | undefined;
  errors: MergeError[];
}

export interface NodeFacts {
  now: Date;
  kernel: { selectiveKsm: boolean; release: string };
  /** Why nothing is merged on this node, if so. */
  blocked?: { reason: string; message: string } | undefined;
  partitions: PartitionFacts[];
  pageSize: number;
  /** The conditions published last time, to keep transition times. */
  previous?: Condition[] | undefined;
}

const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

export function nodeStatus(f: NodeFacts): NodeStatus {
  const partitions: NodePartitionReport[] = [...f.partitions]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p) => {
      const c = p.counters;
      const report: NodePartitionReport = {
        name: p.name,
        pods: p.pods,
        processes: c?.mergedProcesses ?? 0,
        pagesShared: c?.pagesShared ?? 0,
        pagesSharing: c?.pagesSharing ?? 0,
        pagesUnshared: c?.pagesUnshared ?? 0,
        savedBytes: (c?.pagesSharing ?? 0) * f.pageSize,
      };
      if (p.lastMerge) report.lastMerge = p.lastMerge;
      if (p.errors.length > 0) report.errors = p.errors.slice(0, 10);
      return report;
    });
  const savedBytes = partitions.reduce((sum, p) => sum + p.savedBytes, 0);
  const merging = f.blocked
    ? { status: 'False' as const, ...f.blocked }
    : {
        status: 'True' as const,
        reason: 'Merging',
        message: 'Selective KSM is available; merging as partitions ask',
      };
  const old = f.previous?.find((c) => c.type === 'Merging');
  const condition: Condition = {
    type: 'Merging',
    ...merging,
    lastTransitionTime:
      old && old.status === merging.status ? old.lastTransitionTime : stamp(f.now),
  };
  const kernel = f.blocked ? { ...f.kernel, message: f.blocked.message } : f.kernel;
  return {
    kernel,
    heartbeatTime: stamp(f.now),
    partitions,
    savedBytes,
    savedMemory: formatBytes(savedBytes),
    conditions: [condition],
  };
}

/** The same status without the heartbeat: a change here is worth a write now. */
export function substance(s: NodeStatus): string {
  const { heartbeatTime: _ignored, ...rest } = s;
  return JSON.stringify(rest);
}
