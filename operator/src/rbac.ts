import { GROUP, nodeNames, partitionNames } from '@selective-ksm/crds';
import type { PolicyRule } from '@selective-ksm/kube';

// The operator's permissions, least privilege, in one place: the Helm chart
// is rendered from these and the tests run the operator under exactly them.

export const OPERATOR_NAME = 'selective-ksm-operator';

/** Cluster-wide: read what selects pods, write partition status and finalizers, send events. */
export const operatorClusterRules: PolicyRule[] = [
  {
    apiGroups: [GROUP],
    resources: [partitionNames.plural],
    verbs: ['get', 'list', 'watch', 'patch'],
  },
  { apiGroups: [GROUP], resources: [`${partitionNames.plural}/status`], verbs: ['patch'] },
  { apiGroups: [GROUP], resources: [nodeNames.plural], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
];

/** In its own namespace: its leader Lease only (create cannot be limited by name). */
export function operatorLeaseRules(leaseName: string): PolicyRule[] {
  return [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: [leaseName],
      verbs: ['get', 'update'],
    },
  ];
}
