import {
  assignPod,
  type Labels,
  type PartitionSpec,
  parseDuration,
  selectedContainers,
} from '@selective-ksm/crds';
import type { ContainerRef } from './cgroup.ts';

// What the agent should do on this node now, as a pure function of what it
// knows: the pods here, the partitions, the kernel's partitions and which
// partition each container's processes are bound to, and when each
// container was last merged. Nothing here reads a file or calls the API.

export interface ContainerState {
  /** podUid/containerName: stable across container restarts. */
  key: string;
  name: string;
  ref: ContainerRef;
  /** When the running instance started (ms since the epoch). */
  startedAt: number;
}

export interface PodState {
  uid: string;
  namespace: string;
  name: string;
  labels: Labels;
  /** Shares the host's PID namespace: never merged. */
  hostPID: boolean;
  /** Running regular containers (init and ephemeral ones are never merged). */
  containers: ContainerState[];
}

export interface PartitionInfo {
  name: string;
  spec: PartitionSpec;
  deleting: boolean;
}

export interface Knowledge {
  now: number;
  /** When this agent process started: a stand-in for merge times it cannot know. */
  agentStartedAt: number;
  pods: readonly PodState[];
  namespaces: ReadonlyMap<string, Labels>;
  partitions: readonly PartitionInfo[];
  /** Partitions that exist in the kernel. */
  kernelPartitions: readonly string[];
  /** Container key → partitions its processes are bound to in the kernel. */
  bindings: ReadonlyMap<string, ReadonlySet<string>>;
  /** Container key → when this agent last merged it. */
  lastMerge: ReadonlyMap<string, number>;
  /** UID of the agent's own pod, never merged. */
  selfPodUid?: string | undefined;
}

export interface MergeTask {
  partition: string;
  pod: PodState;
  container: ContainerState;
}

export interface ReleaseTask {
  partition: string;
  pod: PodState;
  container: ContainerState;
}

export interface Decision {
  /** Containers due for a merge, the longest overdue first. */
  merge: MergeTask[];
  /** Containers to unmerge from a partition they no longer belong to. */
  release: ReleaseTask[];
  /** Kernel partitions with no live KsmPartition: removing them unmerges their pages. */
  removePartitions: string[];
  /** Pods merged per partition right now, for the report. */
  podsByPartition: Map<string, number>;
  /** When a merge next falls due (ms since the epoch), if any will. */
  nextDue?: number;
}

function dueAt(
  k: Knowledge,
  spec: PartitionSpec,
  container: ContainerState,
  boundHere: boolean,
): number | undefined {
  const last = k.lastMerge.get(container.key) ?? (boundHere ? k.agentStartedAt : undefined);
  if (last === undefined) return container.startedAt + parseDuration(spec.merge.initialDelay);
  if (spec.merge.interval === undefined) return undefined;
  return last + parseDuration(spec.merge.interval);
}

export function decide(k: Knowledge): Decision {
  const live = new Map(k.partitions.filter((p) => !p.deleting).map((p) => [p.name, p]));
  const known = new Map(k.partitions.map((p) => [p.name, p]));
  const decision: Decision = {
    merge: [],
    release: [],
    removePartitions: k.kernelPartitions.filter((name) => !live.has(name)).sort(),
    podsByPartition: new Map(),
  };
  const due: { at: number; task: MergeTask }[] = [];

  for (const pod of k.pods) {
    const eligible = !pod.hostPID && pod.uid !== k.selfPodUid;
    // Every partition takes part in the assignment, deleting ones too, so a
    // pod they still hold is not merged elsewhere meanwhile (fail closed).
    const a = eligible
      ? assignPod(pod, k.namespaces.get(pod.namespace), k.partitions)
      : ({ kind: 'none' } as const);
    const target = a.kind === 'partition' ? live.get(a.partition) : undefined;
    const selected = new Set(
      target
        ? selectedContainers(
            target,
            pod.containers.map((c) => c.name),
          )
        : [],
    );
    if (target && selected.size > 0) {
      decision.podsByPartition.set(
        target.name,
        (decision.podsByPartition.get(target.name) ?? 0) + 1,
      );
    }

    for (const container of pod.containers) {
      const bound = k.bindings.get(container.key) ?? new Set<string>();
      for (const b of bound) {
        const stays = target?.name === b && selected.has(container.name);
        // A partition going away is released whole by removing it.
        if (stays || !live.has(b)) continue;
        if (known.get(b)?.spec.unmergeOnRelease ?? true) {
          decision.release.push({ partition: b, pod, container });
        }
      }
      if (!target || !selected.has(container.name)) continue;
      const at = dueAt(k, target.spec, container, bound.has(target.name));
      if (at === undefined) continue;
      if (at <= k.now) due.push({ at, task: { partition: target.name, pod, container } });
      else decision.nextDue = Math.min(decision.nextDue ?? at, at);
    }
  }
  decision.merge = due.sort((x, y) => x.at - y.at).map((d) => d.task);
  return decision;
}
