import { PartitionSpec } from '@selective-ksm/crds';
import { describe, expect, it } from 'vitest';
import { contradiction, specProblems } from './validate.ts';

describe('contradiction', () => {
  it('finds nothing wrong with satisfiable selectors', () => {
    expect(contradiction({})).toBeUndefined();
    expect(
      contradiction({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'app', operator: 'In', values: ['web', 'api'] },
          { key: 'app', operator: 'NotIn', values: ['api'] },
          { key: 'tier', operator: 'DoesNotExist' },
        ],
      }),
    ).toBeUndefined();
  });

  it('sees a key that must exist and must not', () => {
    expect(
      contradiction({
        matchLabels: { app: 'web' },
        matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }],
      }),
    ).toBe('label app must both exist and not exist');
  });

  it('sees In sets with an empty intersection', () => {
    expect(
      contradiction({
        matchExpressions: [
          { key: 'app', operator: 'In', values: ['a'] },
          { key: 'app', operator: 'In', values: ['b'] },
        ],
      }),
    ).toBe('no value of label app satisfies every requirement on it');
  });

  it('sees every allowed value excluded', () => {
    expect(
      contradiction({
        matchLabels: { app: 'a' },
        matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['a', 'b'] }],
      }),
    ).toBe('no value of label app satisfies every requirement on it');
  });
});

describe('specProblems', () => {
  it('names the selector that selects nothing', () => {
    const spec = PartitionSpec.parse({
      podSelector: {
        matchExpressions: [
          { key: 'a', operator: 'Exists' as const },
          { key: 'a', operator: 'DoesNotExist' as const },
        ],
      },
    });
    expect(specProblems(spec)).toEqual([
      'podSelector selects nothing: label a must both exist and not exist',
    ]);
  });
});
