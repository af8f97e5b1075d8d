import type { Condition } from '@selective-ksm/crds';

export type DesiredCondition = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/**
 * The new condition list: in the order given, each stamped with the
 * generation it describes, and with a transition time that moves only when
 * its status changes.
 */
export function mergeConditions(
  existing: readonly Condition[] | undefined,
  desired: readonly DesiredCondition[],
  generation: number,
  now: Date,
): Condition[] {
  return desired.map((d) => {
    const old = existing?.find((c) => c.type === d.type);
    return {
      type: d.type,
      status: d.status,
      observedGeneration: generation,
      lastTransitionTime:
        old && old.status === d.status
          ? old.lastTransitionTime
          : now.toISOString().replace(/\.\d+Z$/, 'Z'),
      reason: d.reason,
      message: d.message,
    };
  });
}

export interface ConditionTransition {
  type: string;
  from: Condition['status'] | undefined;
  to: DesiredCondition;
}

/** Conditions whose status differs from before (a new condition counts). */
export function transitions(
  existing: readonly Condition[] | undefined,
  next: readonly DesiredCondition[],
): ConditionTransition[] {
  const out: ConditionTransition[] = [];
  for (const d of next) {
    const from = existing?.find((c) => c.type === d.type)?.status;
    if (from !== d.status) out.push({ type: d.type, from, to: d });
  }
  return out;
}
