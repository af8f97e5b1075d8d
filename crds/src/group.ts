/** The API group and version of every kind in this package. */
export const GROUP = 'selectiveksm.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** `kubectl get selective-ksm` lists every kind of this API. */
export const CATEGORY = 'selective-ksm';

/** Names a kind needs in a CRD and in REST paths. */
export interface KindNames {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
}
