import { describe, expect, it } from 'vitest';
import { mergeConditions, transitions } from './conditions.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T01:00:00Z');
const ready = { type: 'Ready', status: 'True' as const, reason: 'Reconciled', message: '1 pod' };

describe('mergeConditions', () => {
  it('stamps new conditions with now and the generation', () => {
    expect(mergeConditions(undefined, [ready], 3, t0)).toEqual([
      { ...ready, observedGeneration: 3, lastTransitionTime: '2026-01-01T00:00:00Z' },
    ]);
  });

  it('keeps the transition time while the status stays, even if the message changes', () => {
    const first = mergeConditions(undefined, [ready], 1, t0);
    const second = mergeConditions(first, [{ ...ready, message: '2 pods' }], 2, t1);
    expect(second[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(second[0]?.observedGeneration).toBe(2);
  });

  it('moves the transition time when the status flips', () => {
    const first = mergeConditions(undefined, [ready], 1, t0);
    const second = mergeConditions(first, [{ ...ready, status: 'False' }], 1, t1);
    expect(second[0]?.lastTransitionTime).toBe('2026-01-01T01:00:00Z');
  });
});

describe('transitions', () => {
  it('lists conditions that are new or changed status only', () => {
    const existing = mergeConditions(undefined, [ready], 1, t0);
    const degraded = { type: 'Degraded', status: 'True' as const, reason: 'X', message: 'x' };
    expect(transitions(existing, [{ ...ready, message: 'other' }, degraded])).toEqual([
      { type: 'Degraded', from: undefined, to: degraded },
    ]);
  });
});
