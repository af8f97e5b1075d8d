import type { Labels } from '@selective-ksm/crds';
import { parseContainerId } from './cgroup.ts';
import type { ContainerState, PodState } from './schedule.ts';

// A Pod object, reduced to what the agent needs. Only the running instances
// of regular containers count: init and ephemeral containers have their own
// status lists and are never merged.

interface ContainerStatus {
  name?: string;
  containerID?: string;
  state?: { running?: { startedAt?: string } };
}

export interface RawPod {
  metadata?: { uid?: string; namespace?: string; name?: string; labels?: Labels };
  spec?: { hostPID?: boolean; nodeName?: string };
  status?: { phase?: string; containerStatuses?: ContainerStatus[] };
}

export function podState(raw: RawPod): PodState {
  const uid = raw.metadata?.uid ?? '';
  const containers: ContainerState[] = [];
  if (raw.status?.phase === 'Running') {
    for (const s of raw.status.containerStatuses ?? []) {
      const ref = parseContainerId(s.containerID);
      const started = Date.parse(s.state?.running?.startedAt ?? '');
      if (!ref || !s.name || Number.isNaN(started)) continue;
      containers.push({ key: `${uid}/${s.name}`, name: s.name, ref, startedAt: started });
    }
  }
  return {
    uid,
    namespace: raw.metadata?.namespace ?? '',
    name: raw.metadata?.name ?? '',
    labels: raw.metadata?.labels ?? {},
    hostPID: raw.spec?.hostPID === true,
    containers,
  };
}
