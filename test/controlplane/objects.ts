import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';

// Object helpers for tests: the writes a user, kubelet or agent would make.

export async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  await p.catch((err: { code?: number }) => {
    if (err.code !== 409) throw err;
  });
}

/** Typed helpers for the test's own writes. */
export function api(kc: KubeConfig) {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const group = 'selectiveksm.io';
  const version = 'v1alpha1';
  return {
    core,
    custom,
    createPartition: (name: string, spec: object) =>
      custom.createClusterCustomObject({
        group,
        version,
        plural: 'ksmpartitions',
        body: { apiVersion: `${group}/${version}`, kind: 'KsmPartition', metadata: { name }, spec },
      }),
    getPartition: async (name: string) =>
      (await custom.getClusterCustomObject({ group, version, plural: 'ksmpartitions', name })) as {
        metadata: { finalizers?: string[]; deletionTimestamp?: string };
        status?: Record<string, unknown> & {
          conditions?: { type: string; status: string; reason: string; message: string }[];
        };
      },
    deletePartition: (name: string) =>
      custom.deleteClusterCustomObject({ group, version, plural: 'ksmpartitions', name }),
    partitionExists: async (name: string) =>
      custom
        .getClusterCustomObject({ group, version, plural: 'ksmpartitions', name })
        .then(() => true)
        .catch((err: { code?: number }) => {
          if (err.code === 404) return false;
          throw err;
        }),
    /** Writes a KsmNode as an agent would: create, then the status subresource. */
    reportNode: async (name: string, status: object) => {
      await ignoreConflict(
        custom.createClusterCustomObject({
          group,
          version,
          plural: 'ksmnodes',
          body: { apiVersion: `${group}/${version}`, kind: 'KsmNode', metadata: { name } },
        }),
      );
      const current = (await custom.getClusterCustomObject({
        group,
        version,
        plural: 'ksmnodes',
        name,
      })) as object;
      await custom.replaceClusterCustomObjectStatus({
        group,
        version,
        plural: 'ksmnodes',
        name,
        body: { ...current, status },
      });
    },
    deleteNode: (name: string) =>
      custom.deleteClusterCustomObject({ group, version, plural: 'ksmnodes', name }),
    createNamespace: (name: string, labels: Record<string, string>) =>
      core.createNamespace({ body: { metadata: { name, labels } } }),
    labelNamespace: (name: string, labels: Record<string, string>) =>
      core.replaceNamespace({ name, body: { metadata: { name, labels } } }),
    createPod: (namespace: string, name: string, labels: Record<string, string>) =>
      core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name, labels },
          spec: { containers: [{ name: 'app', image: 'registry.invalid/app' }] },
        },
      }),
    /** A pod as kubelet would have it running: bound to a node, containers started. */
    createRunningPod: async (
      namespace: string,
      name: string,
      opts: {
        nodeName: string;
        labels?: Record<string, string>;
        hostPID?: boolean;
        containers: { name: string; containerID: string; startedAt?: string }[];
      },
    ) => {
      const pod = await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name, labels: opts.labels ?? {} },
          spec: {
            nodeName: opts.nodeName,
            hostPID: opts.hostPID ?? false,
            containers: opts.containers.map((c) => ({
              name: c.name,
              image: 'registry.invalid/app',
            })),
          },
        },
      });
      const startedAt = new Date(Date.now() - 3_600_000);
      pod.status = {
        phase: 'Running',
        containerStatuses: opts.containers.map((c) => ({
          name: c.name,
          containerID: c.containerID,
          image: 'registry.invalid/app',
          imageID: '',
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: c.startedAt ? new Date(c.startedAt) : startedAt } },
        })),
      };
      return core.replaceNamespacedPodStatus({ namespace, name, body: pod });
    },
    createNode: (name: string) =>
      core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } }),
    getNode: async (name: string) =>
      (await custom.getClusterCustomObject({ group, version, plural: 'ksmnodes', name })) as {
        metadata: { ownerReferences?: { kind: string; name: string }[] };
        status?: {
          kernel?: { selectiveKsm: boolean; release: string; message?: string };
          partitions?: {
            name: string;
            pods: number;
            processes: number;
            pagesShared: number;
            pagesSharing: number;
            savedBytes: number;
            lastMerge?: string;
            errors?: { reason: string }[];
          }[];
          conditions?: { type: string; status: string; reason: string }[];
        };
      },
    labelPod: async (namespace: string, name: string, labels: Record<string, string>) => {
      const pod = await core.readNamespacedPod({ namespace, name });
      pod.metadata = { ...pod.metadata, labels };
      await core.replaceNamespacedPod({ namespace, name, body: pod });
    },
  };
}
