import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSmall, subdirectories } from './procfs.ts';

// From a container to its cgroup v2 directory, as kubelet lays them out.
//
//   systemd driver:  kubepods.slice/kubepods-burstable.slice/
//                      kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
//   cgroupfs driver: kubepods/burstable/pod<uid>/<id>
//
// Guaranteed pods sit directly under the kubepods root; CRI-O names its
// scopes crio-<id>.scope (crio-<id> with cgroupfs); and a kubelet may nest
// the whole tree under a custom root (kind: kubelet.slice/kubelet-kubepods.slice).

export type Runtime = 'containerd' | 'cri-o';
export type CgroupDriver = 'systemd' | 'cgroupfs';
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export interface ContainerRef {
  runtime: Runtime;
  id: string;
}

/** "containerd://<64 hex>" or "cri-o://<64 hex>"; undefined for anything else. */
export function parseContainerId(containerId: string | undefined): ContainerRef | undefined {
  const m = /^(containerd|cri-o):\/\/([0-9a-f]{64})$/.exec(containerId ?? '');
  if (!m) return undefined;
  return { runtime: m[1] as Runtime, id: m[2] as string };
}

/**
 * The cgroup kubelet gives a container, relative to the cgroup root. The
 * `parent` is the kubepods root: "kubepods.slice" / "kubepods" by default.
 */
export function kubeletCgroupPath(opts: {
  driver: CgroupDriver;
  qos: QosClass;
  podUid: string;
  container: ContainerRef;
  parent?: string;
}): string {
  const { driver, qos, podUid, container } = opts;
  const q = qos === 'Guaranteed' ? undefined : qos.toLowerCase();
  if (driver === 'cgroupfs') {
    const parent = opts.parent ?? 'kubepods';
    const leaf = container.runtime === 'cri-o' ? `crio-${container.id}` : container.id;
    return [parent, q, `pod${podUid}`, leaf].filter(Boolean).join('/');
  }
  const parent = opts.parent ?? 'kubepods.slice';
  // systemd slice names repeat their parents' names: a-b.slice is in a.slice.
  const prefix =
    parent
      .split('/')
      .at(-1)
      ?.replace(/\.slice$/, '') ?? 'kubepods';
  const qosSlice = q ? `${prefix}-${q}.slice` : undefined;
  const podSlice = `${q ? `${prefix}-${q}` : prefix}-pod${podUid.replace(/-/g, '_')}.slice`;
  const scope = `${container.runtime === 'cri-o' ? 'crio' : 'cri-containerd'}-${container.id}.scope`;
  return [parent, qosSlice, podSlice, scope].filter(Boolean).join('/');
}

/** Is `name` the directory of this container (any runtime, either driver)? */
export function isContainerDir(name: string, container: ContainerRef): boolean {
  const { id } = container;
  return (
    name === id ||
    name === `cri-containerd-${id}.scope` ||
    name === `crio-${id}.scope` ||
    name === `crio-${id}` ||
    name === `docker-${id}.scope`
  );
}

/** Is `name` a kubepods root (default, or nested under a custom slice)? */
export function isKubepodsRoot(name: string): boolean {
  return name === 'kubepods' || name === 'kubepods.slice' || name.endsWith('-kubepods.slice');
}

const QOS_DIR = /^(besteffort|burstable)$|-(besteffort|burstable)\.slice$/;

/**
 * A cgroup path as a process sees it in /proc/PID/cgroup, with the `/..`
 * steps that appear when the reader is in a private cgroup namespace removed.
 */
export function normalizeCgroupPath(shown: string): string {
  const parts = shown.split('/').filter((p) => p !== '' && p !== '.');
  while (parts[0] === '..') parts.shift();
  return parts.join('/');
}

/** Does a path read from /proc/PID/cgroup (maybe namespace-relative) name this cgroup? */
export function sameCgroup(absolute: string, shown: string): boolean {
  const a = normalizeCgroupPath(absolute);
  const s = normalizeCgroupPath(shown);
  if (s === '') return false;
  return a === s || a.endsWith(`/${s}`);
}

/** The cgroup v2 line ("0::/path") of /proc/PID/cgroup; undefined on a v1-only host. */
export function unifiedCgroup(procCgroup: string): string | undefined {
  for (const line of procCgroup.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3);
  }
  return undefined;
}

/** The pod UID a kubelet pod directory stands for, if it is one. */
export function podUidOfDir(name: string): string | undefined {
  const m = /^pod([0-9a-f-]{36})$/.exec(name) ?? /-pod([0-9a-f_]{36})\.slice$/.exec(name);
  return m?.[1]?.replace(/_/g, '-');
}

/**
 * Finds container cgroups under a cgroup v2 mount. {@link scan} indexes the
 * pod directories of every kubepods root (found once by a breadth-first
 * walk, three levels deep); a lookup then reads one pod directory only.
 */
export class CgroupLocator {
  private readonly mount: string;
  private roots: string[] | undefined;
  private pods: Map<string, string> | undefined;

  constructor(mount: string) {
    this.mount = mount;
  }

  /** Is this a cgroup v2 (unified) mount? */
  async isUnified(): Promise<boolean> {
    return readFile(join(this.mount, 'cgroup.controllers'), 'utf8').then(
      () => true,
      () => false,
    );
  }

  private async kubepodsRoots(): Promise<string[]> {
    if (this.roots && this.roots.length > 0) return this.roots;
    const found: string[] = [];
    let level = [''];
    for (let depth = 0; depth < 3 && found.length === 0; depth++) {
      const next: string[] = [];
      for (const rel of level) {
        for (const name of subdirectories(join(this.mount, rel))) {
          const path = rel ? `${rel}/${name}` : name;
          if (isKubepodsRoot(name)) found.push(path);
          else next.push(path);
        }
      }
      level = next;
    }
    this.roots = found;
    return found;
  }

  /** Re-reads which pod directories exist; call once per pass. */
  async scan(): Promise<void> {
    const pods = new Map<string, string>();
    for (const root of await this.kubepodsRoots()) {
      const parents = [root];
      for (const name of subdirectories(join(this.mount, root))) {
        if (QOS_DIR.test(name)) parents.push(`${root}/${name}`);
      }
      for (const parent of parents) {
        for (const name of subdirectories(join(this.mount, parent))) {
          const uid = podUidOfDir(name);
          if (uid) pods.set(uid, `${parent}/${name}`);
        }
      }
    }
    this.pods = pods;
  }

  /** The container's cgroup relative to the mount, or undefined if not there (yet). */
  async find(podUid: string, container: ContainerRef): Promise<string | undefined> {
    if (!this.pods) await this.scan();
    const pod = this.pods?.get(podUid);
    if (!pod) return undefined;
    for (const leaf of subdirectories(join(this.mount, pod))) {
      if (isContainerDir(leaf, container)) return `${pod}/${leaf}`;
    }
    return undefined;
  }

  /** Every PID in the cgroup and its descendants. */
  async processes(cgroup: string): Promise<number[]> {
    const pids: number[] = [];
    const walk = async (rel: string) => {
      const text = readSmall(join(this.mount, rel, 'cgroup.procs')) ?? '';
      for (const line of text.split('\n')) {
        const pid = Number(line);
        if (line !== '' && Number.isInteger(pid) && pid > 0) pids.push(pid);
      }
      for (const child of subdirectories(join(this.mount, rel))) await walk(`${rel}/${child}`);
    };
    await walk(cgroup);
    return pids;
  }
}
