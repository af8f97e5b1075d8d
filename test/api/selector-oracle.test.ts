import { CoreV1Api } from '@kubernetes/client-node';
import {
  type LabelSelector,
  type Labels,
  selectorMatches,
  selectorToString,
} from '@selective-ksm/crds';
import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { adminConfig } from '../controlplane/index.ts';

// The apiserver is the oracle for label selector semantics: random labels,
// random selectors, the server's filtered list against ours.

const keys = ['app', 'tier', 'example.com/team', 'x'];
const values = ['a', 'b', 'c', ''];

const labelsArb: fc.Arbitrary<Labels> = fc.dictionary(
  fc.constantFrom(...keys),
  fc.constantFrom(...values),
  {
    maxKeys: 4,
  },
);

const requirementArb = fc.oneof(
  fc.record({
    key: fc.constantFrom(...keys),
    operator: fc.constantFrom('In' as const, 'NotIn' as const),
    values: fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    key: fc.constantFrom(...keys),
    operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const),
  }),
);

const selectorArb: fc.Arbitrary<LabelSelector> = fc.record(
  {
    matchLabels: fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values), {
      maxKeys: 2,
    }),
    matchExpressions: fc.array(requirementArb, { maxLength: 3 }),
  },
  { requiredKeys: [] },
);

const namespace = 'selector-oracle';
const podCount = 40;
const seed = Date.now() % 2 ** 31;

describe('label selector semantics, with the apiserver as oracle', () => {
  const core = () => adminConfig(inject('controlPlane')).makeApiClient(CoreV1Api);
  let podLabels: Labels[] = [];

  beforeAll(async () => {
    console.log(`selector oracle seed ${seed}`);
    podLabels = fc.sample(labelsArb, { seed, numRuns: podCount });
    await core().createNamespace({ body: { metadata: { name: namespace } } });
    await Promise.all(
      podLabels.map((labels, i) =>
        core().createNamespacedPod({
          namespace,
          body: {
            metadata: { name: `pod-${i}`, labels },
            spec: { containers: [{ name: 'c', image: 'registry.invalid/none' }] },
          },
        }),
      ),
    );
    for (const [i, labels] of fc.sample(labelsArb, { seed: seed + 1, numRuns: 8 }).entries()) {
      await core().createNamespace({ body: { metadata: { name: `oracle-ns-${i}`, labels } } });
    }
  });

  it('pods: the server lists exactly the pods our matcher selects', async () => {
    const api = core();
    await fc.assert(
      fc.asyncProperty(selectorArb, async (selector) => {
        const list = await api.listNamespacedPod({
          namespace,
          labelSelector: selectorToString(selector),
        });
        const server = list.items.map((p) => p.metadata?.name ?? '').sort();
        const ours = podLabels
          .map((labels, i) => (selectorMatches(selector, labels) ? `pod-${i}` : ''))
          .filter(Boolean)
          .sort();
        expect(server).toEqual(ours);
      }),
      { seed, numRuns: 150 },
    );
  });

  it('namespaces: the server lists exactly the namespaces our matcher selects', async () => {
    const api = core();
    const all = (await api.listNamespace()).items.map((n) => ({
      name: n.metadata?.name ?? '',
      labels: n.metadata?.labels ?? {},
    }));
    expect(all.length).toBeGreaterThan(8);
    await fc.assert(
      fc.asyncProperty(selectorArb, async (selector) => {
        const list = await api.listNamespace({ labelSelector: selectorToString(selector) });
        const server = list.items.map((n) => n.metadata?.name ?? '').sort();
        const ours = all
          .filter((n) => selectorMatches(selector, n.labels))
          .map((n) => n.name)
          .sort();
        expect(server).toEqual(ours);
      }),
      { seed, numRuns: 100 },
    );
  });
});
