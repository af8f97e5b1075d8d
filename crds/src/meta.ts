import { z } from 'zod';
import { withRules } from './rules.ts';

// Kubernetes' own shapes, as this API embeds them. Every string and list is
// bounded: the apiserver refuses CEL rules whose worst-case cost is unbounded.

const dnsLabel = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const qualifiedName = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';

/** A label key: an optional DNS-subdomain prefix and a name. */
// A string, not a RegExp's source: that escapes '/', which CEL refuses.
const labelKeyPattern = `^(${dnsLabel}([.]${dnsLabel})*/)?${qualifiedName}$`;
const LABEL_KEY = new RegExp(labelKeyPattern);

export const LabelKey = z
  .string()
  .min(1)
  .max(317)
  .regex(LABEL_KEY, { message: 'must be a valid label key' });

export const LabelValue = z
  .string()
  .max(63)
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, {
    message: 'must be a valid label value',
  });

// CRD schemas cannot constrain map keys, so a CEL rule checks them.
export const Labels = withRules(
  z.record(z.string().max(317), LabelValue).meta({ maxProperties: 64 }),
  [
    {
      cel: `self.all(k, k.matches('${labelKeyPattern}'))`,
      check: (labels) => Object.keys(labels).every((k) => LABEL_KEY.test(k)),
      message:
        'label keys must be an optional DNS subdomain and /, then up to 63 letters, digits, -, _ or .',
    },
  ],
);
export type Labels = z.infer<typeof Labels>;

export const SelectorOperator = z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']);
export type SelectorOperator = z.infer<typeof SelectorOperator>;

export const LabelSelectorRequirement = withRules(
  z.object({
    key: LabelKey,
    operator: SelectorOperator,
    values: z.array(LabelValue).max(64).optional(),
  }),
  [
    {
      cel: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
      check: (r) =>
        r.operator === 'In' || r.operator === 'NotIn'
          ? (r.values?.length ?? 0) > 0
          : (r.values?.length ?? 0) === 0,
      message: 'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
    },
  ],
);
export type LabelSelectorRequirement = z.infer<typeof LabelSelectorRequirement>;

/**
 * metav1.LabelSelector. An empty selector `{}` selects everything; the
 * requirements of one selector are ANDed.
 */
export const LabelSelector = z
  .object({
    matchLabels: Labels.optional(),
    matchExpressions: z.array(LabelSelectorRequirement).max(32).optional(),
  })
  .meta({ 'x-kubernetes-map-type': 'atomic' });
export type LabelSelector = z.infer<typeof LabelSelector>;

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);

/** metav1.Condition. */
export const Condition = z.object({
  type: z.string().min(1).max(316),
  status: ConditionStatus,
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime(),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(32768),
});
export type Condition = z.infer<typeof Condition>;

export const Conditions = z
  .array(Condition)
  .max(8)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

/** A container name (a DNS label). */
export const ContainerName = z
  .string()
  .min(1)
  .max(63)
  .regex(new RegExp(`^${dnsLabel}$`), { message: 'must be a valid container name' });

/** The name of a kernel partition, and so of the KsmPartition that owns it. */
export const PARTITION_NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;

/** A non-negative counter that may exceed 2^31 (pages, bytes). */
export const Count = z.int().min(0).meta({ format: 'int64' });

/** Object metadata as far as this API reads it; the apiserver owns the rest. */
export const ObjectMeta = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  deletionTimestamp: z.string().optional(),
});
