// The end-to-end scenario, as data: who runs on the VM node, in which
// partition, and what each partition should save. The test (e2e.test.ts)
// and `make demo` (demo.ts) both play it.

export const NODE = 'sksm-vm';

/** The workload of a container, run in the VM. */
export type Workload =
  | { kind: 'guest-image'; uniqueMiB: number }
  | { kind: 'service'; port: number };

export interface ScenarioPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  qos: 'Guaranteed' | 'Burstable' | 'BestEffort';
  workload: Workload;
}

export const namespaces: Record<string, Record<string, string>> = {
  vms: { purpose: 'virtual-machines' },
  shop: { team: 'shop' },
};

const vm = (name: string, tenant: string, extra: Record<string, string> = {}): ScenarioPod => ({
  namespace: 'vms',
  name,
  labels: { 'kubevirt.io': 'virt-launcher', tenant, ...extra },
  qos: 'Guaranteed',
  workload: { kind: 'guest-image', uniqueMiB: 4 },
});

export const pods: ScenarioPod[] = [
  vm('vm-a1', 'a'),
  vm('vm-a2', 'a'),
  vm('vm-a3', 'a'),
  vm('vm-b1', 'b'),
  vm('vm-b2', 'b'),
  // Selected by tenant-a and by batch: merged by neither.
  vm('vm-x', 'a', { team: 'batch' }),
  ...[1, 2, 3].map(
    (i): ScenarioPod => ({
      namespace: 'shop',
      name: `service-${i}`,
      labels: { app: 'catalogue' },
      qos: 'Burstable',
      workload: { kind: 'service', port: 9000 + i },
    }),
  ),
];

const vmMemory = { anonymous: true, heap: false, stack: false, minRegionSize: '1Mi' };

export const partitions: { name: string; spec: object }[] = [
  {
    name: 'tenant-a',
    spec: {
      namespaceSelector: { matchLabels: { purpose: 'virtual-machines' } },
      podSelector: { matchLabels: { tenant: 'a' } },
      memory: vmMemory,
      merge: { initialDelay: '0s', interval: '1m' },
    },
  },
  {
    name: 'tenant-b',
    spec: {
      namespaceSelector: { matchLabels: { purpose: 'virtual-machines' } },
      podSelector: { matchLabels: { tenant: 'b' } },
      memory: vmMemory,
      merge: { initialDelay: '0s', interval: '1m' },
    },
  },
  {
    name: 'shop',
    spec: {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
      merge: { initialDelay: '5s', interval: '1m' },
    },
  },
  { name: 'batch', spec: { podSelector: { matchLabels: { team: 'batch' } } } },
];

/** Content hash of a page, for "how many pages could merge". */
export interface ImageStats {
  pages: number;
  distinct: number;
}

/**
 * What a partition of `n` guest-image pods saves at most: every copy of a
 * page content but one is a page sharing (the image is the same in each,
 * and repeats within it merge too); the unique pages save nothing.
 */
export function expectedSharing(n: number, image: ImageStats): number {
  return n === 0 ? 0 : n * image.pages - image.distinct;
}
