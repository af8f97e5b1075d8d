import { GROUP, nodeNames, partitionNames } from '@selective-ksm/crds';
import type { PolicyRule } from '@selective-ksm/kube';

export const AGENT_NAME = 'selective-ksm-agent';

/**
 * The agent's permissions. It reads pods (its own node's, by field
 * selector), namespaces and partitions; it writes only KsmNode objects,
 * and only its own node's (enforced by the admission policy the chart
 * installs, since RBAC cannot name "my node").
 */
export const agentClusterRules: PolicyRule[] = [
  { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
  { apiGroups: [GROUP], resources: [partitionNames.plural], verbs: ['list', 'watch'] },
  { apiGroups: [GROUP], resources: [nodeNames.plural], verbs: ['create'] },
  { apiGroups: [GROUP], resources: [`${nodeNames.plural}/status`], verbs: ['patch'] },
];
