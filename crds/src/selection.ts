import type { Labels } from './meta.ts';
import type { PartitionSpec } from './partition.ts';
import { selectorMatches } from './selector.ts';

// Which partition a pod belongs to. The operator and every node agent run
// this same code on the same inputs, so they agree without talking.

export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
  labels: Labels;
}

export interface PartitionSelection {
  name: string;
  spec: Pick<PartitionSpec, 'namespaceSelector' | 'podSelector' | 'containers'>;
}

/** A pod's partition: exactly one, a conflict between several, or none. */
export type Assignment =
  | { kind: 'partition'; partition: string }
  | { kind: 'conflict'; partitions: string[] }
  | { kind: 'none' };

/**
 * Does the partition select the pod? `namespaceLabels` is undefined when the
 * namespace is not known (yet): a namespaceSelector then selects nothing, so
 * an unknown namespace never lands a pod in a partition by accident.
 */
export function partitionSelects(
  partition: PartitionSelection,
  pod: PodIdentity,
  namespaceLabels: Labels | undefined,
): boolean {
  const { namespaceSelector, podSelector } = partition.spec;
  if (namespaceSelector !== undefined) {
    if (namespaceLabels === undefined || !selectorMatches(namespaceSelector, namespaceLabels)) {
      return false;
    }
  }
  return podSelector === undefined || selectorMatches(podSelector, pod.labels);
}

/**
 * The partition a pod is merged in. A pod selected by two or more partitions
 * is merged by none of them (fail closed): sharing a page across security
 * domains is the one thing this product must never do.
 */
export function assignPod(
  pod: PodIdentity,
  namespaceLabels: Labels | undefined,
  partitions: readonly PartitionSelection[],
): Assignment {
  const selecting = partitions
    .filter((p) => partitionSelects(p, pod, namespaceLabels))
    .map((p) => p.name)
    .sort();
  const [only] = selecting;
  if (only === undefined) return { kind: 'none' };
  if (selecting.length === 1) return { kind: 'partition', partition: only };
  return { kind: 'conflict', partitions: selecting };
}

/** {@link assignPod} for many pods, keyed by pod UID. */
export function assignPods(
  pods: readonly PodIdentity[],
  namespaces: ReadonlyMap<string, Labels>,
  partitions: readonly PartitionSelection[],
): Map<string, Assignment> {
  return new Map(
    pods.map((pod) => [pod.uid, assignPod(pod, namespaces.get(pod.namespace), partitions)]),
  );
}

/** The containers of a selected pod that the partition merges, in pod order. */
export function selectedContainers(
  partition: PartitionSelection,
  containerNames: readonly string[],
): string[] {
  const wanted = partition.spec.containers;
  if (wanted === undefined) return [...containerNames];
  return containerNames.filter((name) => wanted.includes(name));
}
