import type { LabelSelector, PartitionSpec } from '@selective-ksm/crds';

// What the schema cannot say: a selector whose requirements contradict each
// other selects nothing, which is almost certainly not what was meant.

interface KeyConstraint {
  mustExist: boolean;
  mustNotExist: boolean;
  /** Values the key may take; undefined means any. */
  allowed: Set<string> | undefined;
  forbidden: Set<string>;
}

function constraints(selector: LabelSelector): Map<string, KeyConstraint> {
  const byKey = new Map<string, KeyConstraint>();
  const get = (key: string) => {
    let c = byKey.get(key);
    if (!c) {
      c = { mustExist: false, mustNotExist: false, allowed: undefined, forbidden: new Set() };
      byKey.set(key, c);
    }
    return c;
  };
  const restrict = (c: KeyConstraint, values: string[]) => {
    const next = new Set(values);
    c.allowed = c.allowed ? new Set([...c.allowed].filter((v) => next.has(v))) : next;
    c.mustExist = true;
  };
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    restrict(get(key), [value]);
  for (const r of selector.matchExpressions ?? []) {
    const c = get(r.key);
    switch (r.operator) {
      case 'In':
        restrict(c, r.values ?? []);
        break;
      case 'NotIn':
        for (const v of r.values ?? []) c.forbidden.add(v);
        break;
      case 'Exists':
        c.mustExist = true;
        break;
      case 'DoesNotExist':
        c.mustNotExist = true;
        break;
    }
  }
  return byKey;
}

/** Why a selector can never match, or undefined if some labels satisfy it. */
export function contradiction(selector: LabelSelector): string | undefined {
  for (const [key, c] of constraints(selector)) {
    if (c.mustExist && c.mustNotExist) {
      return `label ${key} must both exist and not exist`;
    }
    if (c.allowed && [...c.allowed].every((v) => c.forbidden.has(v))) {
      return `no value of label ${key} satisfies every requirement on it`;
    }
  }
  return undefined;
}

/** Problems with a partition spec that the CRD schema lets through. */
export function specProblems(spec: PartitionSpec): string[] {
  const problems: string[] = [];
  for (const field of ['namespaceSelector', 'podSelector'] as const) {
    const selector = spec[field];
    const why = selector && contradiction(selector);
    if (why) problems.push(`${field} selects nothing: ${why}`);
  }
  return problems;
}
