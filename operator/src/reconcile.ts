import {
  API_VERSION,
  ConditionType,
  formatBytes,
  type NodePartitionReport,
  type PartitionSpec,
  type PartitionStatus,
  type PodIdentity,
} from '@selective-ksm/crds';
import type { EventSpec } from '@selective-ksm/kube';
import { type DesiredCondition, mergeConditions, transitions } from './conditions.ts';
import type { PartitionMembers } from './selection-index.ts';
import { specProblems } from './validate.ts';

// The operator's decisions, as pure functions of what it has observed:
// a partition's status, whether it may be released, and what to tell people.

/** Held on every KsmPartition until no node holds its pages any more. */
export const RELEASE_FINALIZER = 'selectiveksm.io/release';

export const MAX_CONFLICTS_SHOWN = 20;

export interface PartitionState {
  name: string;
  uid: string;
  generation: number;
  resourceVersion: string;
  deletionTimestamp?: string | undefined;
  finalizers: string[];
  /** Undefined when the stored object does not parse (then `specError` says why). */
  spec?: PartitionSpec | undefined;
  specError?: string | undefined;
  status?: PartitionStatus | undefined;
}

/** One node's KsmNode report, reduced to what the operator reads. */
export interface NodeState {
  name: string;
  heartbeatTime?: string | undefined;
  kernelSupported?: boolean | undefined;
  partitions: NodePartitionReport[];
}

export interface Settings {
  /** A node whose heartbeat is older than this is not reporting. */
  staleAfterMs: number;
  /** After this long in deletion, nodes that still hold the partition are reported. */
  releaseTimeoutMs: number;
}

export interface ReconcileInput {
  partition: PartitionState;
  members: PartitionMembers;
  nodes: readonly NodeState[];
  now: Date;
  settings: Settings;
}

export interface Plan {
  status: PartitionStatus;
  finalizer: 'add' | 'remove' | 'keep';
  /** Events on the partition: sent on condition transitions only. */
  events: EventSpec[];
  /** Events on pods selected by two partitions (sent once per pod and set of partitions). */
  podEvents: EventSpec[];
  /** Look again after this long even if nothing changes (a deadline to check). */
  requeueAfterMs?: number;
}

interface NodeHolding {
  node: NodeState;
  report: NodePartitionReport;
}

function holdings(name: string, nodes: readonly NodeState[]): NodeHolding[] {
  const out: NodeHolding[] = [];
  for (const node of nodes) {
    const report = node.partitions.find((p) => p.name === name);
    if (report) out.push({ node, report });
  }
  return out.sort((a, b) => a.node.name.localeCompare(b.node.name));
}

function listed(names: string[], max = 5): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

function podName(p: PodIdentity): string {
  return `${p.namespace}/${p.name}`;
}

function aggregate(held: NodeHolding[]) {
  let pagesShared = 0;
  let pagesSharing = 0;
  let savedBytes = 0;
  let lastMerge: string | undefined;
  let nodes = 0;
  for (const { report } of held) {
    pagesShared += report.pagesShared;
    pagesSharing += report.pagesSharing;
    savedBytes += report.savedBytes;
    if (report.pods > 0) nodes++;
    if (report.lastMerge && (!lastMerge || Date.parse(report.lastMerge) > Date.parse(lastMerge))) {
      lastMerge = report.lastMerge;
    }
  }
  return { pagesShared, pagesSharing, savedBytes, lastMerge, nodes };
}

function degradation(
  input: ReconcileInput,
  held: NodeHolding[],
): { condition: DesiredCondition; requeueAfterMs?: number } {
  const { partition, now, settings } = input;
  const problems: { reason: string; message: string }[] = [];
  let requeueAfterMs: number | undefined;

  if (partition.deletionTimestamp && held.length > 0) {
    const elapsed = now.getTime() - Date.parse(partition.deletionTimestamp);
    if (elapsed >= settings.releaseTimeoutMs) {
      problems.push({
        reason: 'ReleaseTimedOut',
        message: `${held.length} node(s) still hold pages of this partition ${Math.round(elapsed / 1000)} s after deletion: ${listed(held.map((h) => h.node.name))} (deleting a node's KsmNode releases it)`,
      });
    } else {
      requeueAfterMs = settings.releaseTimeoutMs - elapsed + 1000;
    }
  }

  const age = (h: NodeHolding) =>
    h.node.heartbeatTime
      ? now.getTime() - Date.parse(h.node.heartbeatTime)
      : Number.POSITIVE_INFINITY;
  const stale = held.filter((h) => age(h) > settings.staleAfterMs);
  // Nothing else wakes us when an agent goes silent: look again when the
  // freshest report of a reporting node would turn stale.
  for (const h of held) {
    const untilStale = settings.staleAfterMs - age(h);
    if (untilStale >= 0)
      requeueAfterMs = Math.min(requeueAfterMs ?? untilStale + 1000, untilStale + 1000);
  }
  if (stale.length > 0) {
    problems.push({
      reason: 'NodesNotReporting',
      message: `no report for over ${Math.round(settings.staleAfterMs / 1000)} s from ${listed(stale.map((h) => h.node.name))}`,
    });
  }

  const unsupported = held.filter((h) => h.node.kernelSupported === false && h.report.pods > 0);
  if (unsupported.length > 0) {
    problems.push({
      reason: 'KernelUnsupported',
      message: `selected pods run on nodes without Selective KSM: ${listed(unsupported.map((h) => h.node.name))}`,
    });
  }

  const failing = held.filter((h) => (h.report.errors?.length ?? 0) > 0);
  if (failing.length > 0) {
    const first = failing[0];
    const sample = first?.report.errors?.[0];
    problems.push({
      reason: 'MergeErrors',
      message: `merges fail on ${listed(failing.map((h) => h.node.name))}${sample ? ` (${first?.node.name}: ${sample.reason}: ${sample.message})` : ''}`,
    });
  }

  const [worst] = problems;
  const condition: DesiredCondition = worst
    ? {
        type: ConditionType.Degraded,
        status: 'True',
        reason: worst.reason,
        message: problems.map((p) => p.message).join('; '),
      }
    : {
        type: ConditionType.Degraded,
        status: 'False',
        reason: 'AsExpected',
        message: 'every node holding this partition reports without errors',
      };
  return requeueAfterMs === undefined ? { condition } : { condition, requeueAfterMs };
}

function readiness(input: ReconcileInput, held: NodeHolding[], nodes: number): DesiredCondition {
  const { partition, members } = input;
  const ready = (status: 'True' | 'False', reason: string, message: string): DesiredCondition => ({
    type: ConditionType.Ready,
    status,
    reason,
    message,
  });
  if (!partition.spec) {
    return ready('False', 'InvalidSpec', partition.specError ?? 'the spec does not parse');
  }
  if (partition.deletionTimestamp) {
    return held.length > 0
      ? ready(
          'False',
          'Releasing',
          `waiting for ${listed(held.map((h) => h.node.name))} to unmerge and release this partition`,
        )
      : ready('False', 'Released', 'no node holds pages of this partition');
  }
  const problems = specProblems(partition.spec);
  if (problems.length > 0) return ready('False', 'SelectsNothing', problems.join('; '));
  return ready(
    'True',
    'Reconciled',
    `${members.matched.length} pod(s) selected, merged on ${nodes} node(s)`,
  );
}

function conflictCondition(members: PartitionMembers): DesiredCondition {
  const n = members.conflicts.length;
  if (n === 0) {
    return {
      type: ConditionType.Conflicted,
      status: 'False',
      reason: 'NoConflicts',
      message: 'no selected pod is selected by another partition',
    };
  }
  const names = members.conflicts.map((c) => `${podName(c.pod)} (${c.partitions.join(', ')})`);
  return {
    type: ConditionType.Conflicted,
    status: 'True',
    reason: 'PodsInSeveralPartitions',
    message: `${n} pod(s) are selected by more than one partition and merged by none: ${listed(names)}`,
  };
}

function partitionEvents(input: ReconcileInput, next: DesiredCondition[]): EventSpec[] {
  const { partition } = input;
  const object = {
    apiVersion: API_VERSION,
    kind: 'KsmPartition',
    name: partition.name,
    uid: partition.uid,
  };
  const events: EventSpec[] = [];
  for (const t of transitions(partition.status?.conditions, next)) {
    const problem =
      (t.type === ConditionType.Ready && t.to.status === 'False') ||
      (t.type !== ConditionType.Ready && t.to.status === 'True');
    // A new partition that is fine needs no event; a problem always does.
    if (t.from === undefined && !problem) continue;
    let reason = t.to.reason;
    if (!problem) {
      reason = t.type === ConditionType.Ready ? 'Ready' : `${t.type}Cleared`;
    }
    const warning = problem && t.to.reason !== 'Releasing' && t.to.reason !== 'Released';
    events.push({
      object,
      type: warning ? 'Warning' : 'Normal',
      reason,
      message: t.to.message,
      // One event per transition away from this stored status.
      occurrence: `${partition.resourceVersion}/${t.type}`,
    });
  }
  return events;
}

function conflictPodEvents(members: PartitionMembers): EventSpec[] {
  return members.conflicts.map(({ pod, partitions }) => ({
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
    },
    type: 'Warning',
    reason: 'PartitionConflict',
    message: `selected by KsmPartitions ${partitions.join(', ')}: none of them merges this pod until only one selects it`,
  }));
}

export function reconcile(input: ReconcileInput): Plan {
  const { partition, members, nodes, now } = input;
  const held = holdings(partition.name, nodes);
  const totals = aggregate(held);
  const degraded = degradation(input, held);
  const desired = [
    readiness(input, held, totals.nodes),
    conflictCondition(members),
    degraded.condition,
  ];

  const status: PartitionStatus = {
    observedGeneration: partition.generation,
    conditions: mergeConditions(partition.status?.conditions, desired, partition.generation, now),
    matchedPods: members.matched.length,
    nodes: totals.nodes,
    pagesShared: totals.pagesShared,
    pagesSharing: totals.pagesSharing,
    savedBytes: totals.savedBytes,
    savedMemory: formatBytes(totals.savedBytes),
    ...(totals.lastMerge ? { lastMerge: totals.lastMerge } : {}),
    conflicts: members.conflicts.slice(0, MAX_CONFLICTS_SHOWN).map(({ pod, partitions }) => ({
      namespace: pod.namespace,
      name: pod.name,
      partitions,
    })),
  };

  const hasFinalizer = partition.finalizers.includes(RELEASE_FINALIZER);
  let finalizer: Plan['finalizer'] = 'keep';
  if (!partition.deletionTimestamp && !hasFinalizer) finalizer = 'add';
  if (partition.deletionTimestamp && hasFinalizer && held.length === 0) finalizer = 'remove';

  const plan: Plan = {
    status,
    finalizer,
    events: partitionEvents(input, desired),
    podEvents: conflictPodEvents(members),
  };
  if (degraded.requeueAfterMs !== undefined) plan.requeueAfterMs = degraded.requeueAfterMs;
  return plan;
}
