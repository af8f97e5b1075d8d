import { describe, expect, it } from 'vitest';
import { selectorMatches, selectorToString } from './selector.ts';

const labels = { app: 'web', tier: 'front', empty: '' };

describe('selectorMatches', () => {
  it('an empty selector matches everything, even no labels', () => {
    expect(selectorMatches({}, {})).toBe(true);
    expect(selectorMatches({ matchLabels: {}, matchExpressions: [] }, labels)).toBe(true);
  });

  it('matchLabels needs every pair, with the exact value', () => {
    expect(selectorMatches({ matchLabels: { app: 'web', tier: 'front' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'web', tier: 'back' } }, labels)).toBe(false);
    expect(selectorMatches({ matchLabels: { other: 'x' } }, labels)).toBe(false);
  });

  it('matchLabels with an empty value needs the key with an empty value', () => {
    expect(selectorMatches({ matchLabels: { empty: '' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { missing: '' } }, labels)).toBe(false);
  });

  it('In needs the key and one of the values', () => {
    const sel = (values: string[]) => ({
      matchExpressions: [{ key: 'app', operator: 'In' as const, values }],
    });
    expect(selectorMatches(sel(['db', 'web']), labels)).toBe(true);
    expect(selectorMatches(sel(['db']), labels)).toBe(false);
    expect(selectorMatches(sel(['web']), {})).toBe(false);
  });

  it('NotIn matches when the key is absent or its value is not listed', () => {
    const sel = { matchExpressions: [{ key: 'app', operator: 'NotIn' as const, values: ['db'] }] };
    expect(selectorMatches(sel, labels)).toBe(true);
    expect(selectorMatches(sel, {})).toBe(true);
    expect(selectorMatches(sel, { app: 'db' })).toBe(false);
  });

  it('Exists and DoesNotExist look at the key only', () => {
    const exists = { matchExpressions: [{ key: 'empty', operator: 'Exists' as const }] };
    const absent = { matchExpressions: [{ key: 'empty', operator: 'DoesNotExist' as const }] };
    expect(selectorMatches(exists, labels)).toBe(true);
    expect(selectorMatches(absent, labels)).toBe(false);
    expect(selectorMatches(exists, {})).toBe(false);
    expect(selectorMatches(absent, {})).toBe(true);
  });

  it('ANDs matchLabels and every expression', () => {
    const sel = {
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['back'] }],
    };
    expect(selectorMatches(sel, labels)).toBe(false);
    expect(selectorMatches(sel, { app: 'web', tier: 'back' })).toBe(true);
  });

  it('does not treat inherited object properties as labels', () => {
    const sel = { matchExpressions: [{ key: 'constructor', operator: 'Exists' as const }] };
    expect(selectorMatches(sel, {})).toBe(false);
  });
});

describe('selectorToString', () => {
  it('writes the apiserver query syntax', () => {
    expect(
      selectorToString({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'env', operator: 'NotIn', values: ['prod'] },
          { key: 'x.io/k', operator: 'Exists' },
          { key: 'gone', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,tier in (a,b),env notin (prod),x.io/k,!gone');
  });

  it('writes an empty selector as the empty string (everything)', () => {
    expect(selectorToString({})).toBe('');
  });
});
