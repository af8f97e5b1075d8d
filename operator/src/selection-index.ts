import {
  type Assignment,
  assignPod,
  type Labels,
  type PartitionSelection,
  type PodIdentity,
} from '@selective-ksm/crds';

// Which pods each partition selects, kept current incrementally: a pod or
// namespace change re-assigns only the pods it touches; a partition change
// re-assigns every pod. Each update returns the partitions whose members
// changed, which are the ones to reconcile.

export interface PartitionMembers {
  /** Pods this partition alone selects: it merges them. */
  matched: PodIdentity[];
  /** Pods it selects together with another partition: nobody merges them. */
  conflicts: { pod: PodIdentity; partitions: string[] }[];
}

function selecting(a: Assignment | undefined): string[] {
  if (a === undefined || a.kind === 'none') return [];
  return a.kind === 'partition' ? [a.partition] : a.partitions;
}

function sameAssignment(a: Assignment | undefined, b: Assignment): boolean {
  const x = selecting(a);
  const y = selecting(b);
  return (a?.kind ?? 'none') === b.kind && x.length === y.length && x.every((p, i) => p === y[i]);
}

export class SelectionIndex {
  private readonly partitions = new Map<string, PartitionSelection>();
  private partitionList: PartitionSelection[] = [];
  private readonly namespaces = new Map<string, Labels>();
  private readonly pods = new Map<string, PodIdentity>();
  private readonly podsByNamespace = new Map<string, Set<string>>();
  private readonly assignments = new Map<string, Assignment>();
  /** Partition name → UIDs of the pods it selects (alone or not). */
  private readonly members = new Map<string, Set<string>>();

  setPartition(p: PartitionSelection): Set<string> {
    this.partitions.set(p.name, p);
    return this.partitionsChanged(p.name);
  }

  deletePartition(name: string): Set<string> {
    this.partitions.delete(name);
    return this.partitionsChanged(name);
  }

  setNamespace(name: string, labels: Labels): Set<string> {
    this.namespaces.set(name, labels);
    return this.reassignNamespace(name);
  }

  deleteNamespace(name: string): Set<string> {
    this.namespaces.delete(name);
    return this.reassignNamespace(name);
  }

  setPod(pod: PodIdentity): Set<string> {
    const old = this.pods.get(pod.uid);
    if (old && old.namespace !== pod.namespace) this.unindexPod(old);
    this.pods.set(pod.uid, pod);
    let inNamespace = this.podsByNamespace.get(pod.namespace);
    if (!inNamespace) {
      inNamespace = new Set();
      this.podsByNamespace.set(pod.namespace, inNamespace);
    }
    inNamespace.add(pod.uid);
    const affected = new Set<string>();
    this.reassign(pod.uid, affected);
    return affected;
  }

  deletePod(uid: string): Set<string> {
    const pod = this.pods.get(uid);
    const affected = new Set<string>();
    if (!pod) return affected;
    this.unindexPod(pod);
    this.pods.delete(uid);
    for (const p of selecting(this.assignments.get(uid))) {
      this.members.get(p)?.delete(uid);
      affected.add(p);
    }
    this.assignments.delete(uid);
    return affected;
  }

  /** The partition's pods, sorted by namespace and name. */
  membersOf(partition: string): PartitionMembers {
    const result: PartitionMembers = { matched: [], conflicts: [] };
    for (const uid of this.members.get(partition) ?? []) {
      const pod = this.pods.get(uid);
      const a = this.assignments.get(uid);
      if (!pod || !a) continue;
      if (a.kind === 'partition') result.matched.push(pod);
      else if (a.kind === 'conflict') result.conflicts.push({ pod, partitions: a.partitions });
    }
    const byName = (x: PodIdentity, y: PodIdentity) =>
      x.namespace.localeCompare(y.namespace) || x.name.localeCompare(y.name);
    result.matched.sort(byName);
    result.conflicts.sort((x, y) => byName(x.pod, y.pod));
    return result;
  }

  private unindexPod(pod: PodIdentity): void {
    const set = this.podsByNamespace.get(pod.namespace);
    set?.delete(pod.uid);
    if (set?.size === 0) this.podsByNamespace.delete(pod.namespace);
  }

  private partitionsChanged(name: string): Set<string> {
    this.partitionList = [...this.partitions.values()];
    const affected = new Set<string>([name]);
    for (const uid of this.pods.keys()) this.reassign(uid, affected);
    return affected;
  }

  private reassignNamespace(name: string): Set<string> {
    const affected = new Set<string>();
    for (const uid of this.podsByNamespace.get(name) ?? []) this.reassign(uid, affected);
    return affected;
  }

  private reassign(uid: string, affected: Set<string>): void {
    const pod = this.pods.get(uid);
    if (!pod) return;
    const old = this.assignments.get(uid);
    const next = assignPod(pod, this.namespaces.get(pod.namespace), this.partitionList);
    if (sameAssignment(old, next)) {
      this.assignments.set(uid, next);
      return;
    }
    for (const p of selecting(old)) {
      this.members.get(p)?.delete(uid);
      affected.add(p);
    }
    for (const p of selecting(next)) {
      let set = this.members.get(p);
      if (!set) {
        set = new Set();
        this.members.set(p, set);
      }
      set.add(uid);
      affected.add(p);
    }
    this.assignments.set(uid, next);
  }
}
