import { z } from 'zod';
import { API_VERSION, type KindNames } from './group.ts';
import {
  Conditions,
  ContainerName,
  Count,
  LabelSelector,
  ObjectMeta,
  PARTITION_NAME,
} from './meta.ts';
import type { PrinterColumn } from './printer.ts';
import { type Rule, withRules } from './rules.ts';
import { BYTE_SIZE, DURATION, parseByteSize, parseDuration } from './units.ts';

/**
 * KsmPartition: one security domain. Pages of the pods it selects are merged
 * with each other and never with a page of any other partition.
 */
export const partitionNames: KindNames = {
  kind: 'KsmPartition',
  listKind: 'KsmPartitionList',
  plural: 'ksmpartitions',
  singular: 'ksmpartition',
  shortNames: ['ksmp'],
};

const Duration = z.string().max(32).regex(DURATION, {
  message: 'must be a duration such as 30s, 10m or 1h30m',
});

export const MemorySelection = withRules(
  z
    .object({
      anonymous: z
        .boolean()
        .default(true)
        .describe('Private anonymous mappings, such as a virtual machine guest memory.'),
      heap: z.boolean().default(true).describe('The [heap] mapping.'),
      stack: z.boolean().default(true).describe('The [stack] mapping of the main thread.'),
      privateFileCopyOnWrite: z
        .boolean()
        .default(false)
        .describe('Writable private file mappings, whose written pages are anonymous copies.'),
      minRegionSize: z
        .string()
        .max(20)
        .regex(BYTE_SIZE, { message: 'must be a size such as 64Ki, 2Mi or 4096' })
        .default('64Ki')
        .describe('Mappings smaller than this are not merged.'),
    })
    .describe('Which mappings of a selected process are merged.'),
  [
    {
      cel: 'self.anonymous || self.heap || self.stack || self.privateFileCopyOnWrite',
      check: (m) => m.anonymous || m.heap || m.stack || m.privateFileCopyOnWrite,
      message:
        'memory selects no mappings: enable at least one of anonymous, heap, stack, privateFileCopyOnWrite',
    },
    {
      cel: "quantity(self.minRegionSize).compareTo(quantity('4Ki')) >= 0",
      check: (m) => !BYTE_SIZE.test(m.minRegionSize) || parseByteSize(m.minRegionSize) >= 4096,
      message: 'minRegionSize must be at least 4Ki (one page)',
      fieldPath: '.minRegionSize',
    },
  ],
);
export type MemorySelection = z.infer<typeof MemorySelection>;

export const MergePolicy = withRules(
  z
    .object({
      initialDelay: Duration.default('30s').describe(
        'Time from a container start to its first merge, so that it can load what it will share.',
      ),
      interval: Duration.optional().describe(
        'Merge again every interval. Without it, each container is merged once.',
      ),
      maxPagesPerSecond: z
        .int()
        .min(1)
        .max(10_000_000)
        .default(25_600)
        .describe('Pages of this partition one node merges per second at most.'),
    })
    .describe('When and how fast pages are merged.'),
  [
    {
      cel: "duration(self.initialDelay) <= duration('24h')",
      check: (p) =>
        !DURATION.test(p.initialDelay) || parseDuration(p.initialDelay) <= 24 * 3_600_000,
      message: 'initialDelay must be at most 24h',
      fieldPath: '.initialDelay',
    },
    {
      cel: "!has(self.interval) || duration(self.interval) >= duration('1m')",
      check: (p) =>
        p.interval === undefined ||
        !DURATION.test(p.interval) ||
        parseDuration(p.interval) >= 60_000,
      message: 'interval must be at least 1m; omit it to merge once',
      fieldPath: '.interval',
    },
  ],
);
export type MergePolicy = z.infer<typeof MergePolicy>;

export const PartitionSpec = withRules(
  z.object({
    namespaceSelector: LabelSelector.optional().describe(
      'Selects namespaces by their labels. Omitted: pods of every namespace.',
    ),
    podSelector: LabelSelector.optional().describe(
      'Selects pods by their labels. Omitted: every pod of the selected namespaces.',
    ),
    containers: z
      .array(ContainerName)
      .max(32)
      .refine((names) => new Set(names).size === names.length, {
        message: 'containers must not repeat a name',
      })
      .optional()
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe('Names of the containers to merge. Omitted: every container of a selected pod.'),
    // Whole defaulted objects, not `{}`: the apiserver checks a default
    // against the CEL rules before it fills in the nested defaults.
    memory: MemorySelection.default(() => MemorySelection.parse({})),
    merge: MergePolicy.default(() => MergePolicy.parse({})),
    unmergeOnRelease: z
      .boolean()
      .default(true)
      .describe(
        'Unmerge the pages of a pod when it leaves this partition or the partition is deleted.',
      ),
  }),
  [
    {
      cel: 'has(self.namespaceSelector) || has(self.podSelector)',
      check: (s) => s.namespaceSelector !== undefined || s.podSelector !== undefined,
      message: 'set namespaceSelector or podSelector; use podSelector: {} to select every pod',
    },
  ],
);
export type PartitionSpec = z.infer<typeof PartitionSpec>;

export const PodReference = z.object({
  namespace: z.string().max(63),
  name: z.string().max(253),
});

export const PartitionConflict = PodReference.extend({
  partitions: z
    .array(z.string().max(63))
    .max(16)
    .describe('Every partition that selects this pod, this one included.'),
});
export type PartitionConflict = z.infer<typeof PartitionConflict>;

export const PartitionStatus = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions: Conditions.optional(),
  matchedPods: z.int().min(0).optional().describe('Pods this partition alone selects.'),
  nodes: z.int().min(0).optional().describe('Nodes that run a matched pod.'),
  pagesShared: Count.optional().describe('Frames that back merged pages, on all nodes.'),
  pagesSharing: Count.optional().describe('Further pages that map those frames: pages saved.'),
  savedBytes: Count.optional(),
  savedMemory: z.string().max(16).optional().describe('savedBytes for people, such as 1.5Gi.'),
  lastMerge: z.iso.datetime().optional(),
  conflicts: z
    .array(PartitionConflict)
    .max(20)
    .optional()
    .describe('Pods also selected by another partition, merged by neither (at most 20 shown).'),
});
export type PartitionStatus = z.infer<typeof PartitionStatus>;

/** The partition's name is also the kernel partition's name. */
export const partitionNameRule: Rule<{ metadata: { name?: string | undefined } }> = {
  cel: `self.metadata.name.matches('${PARTITION_NAME.source}')`,
  check: (o) => PARTITION_NAME.test(o.metadata.name ?? ''),
  message:
    'metadata.name must be at most 63 lowercase letters, digits, dots or dashes: it names the kernel partition',
};

export const KsmPartition = withRules(
  z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(partitionNames.kind),
    metadata: ObjectMeta,
    spec: PartitionSpec,
    status: PartitionStatus.optional(),
  }),
  [partitionNameRule],
);
export type KsmPartition = z.infer<typeof KsmPartition>;

export const ConditionType = {
  Ready: 'Ready',
  Conflicted: 'Conflicted',
  Degraded: 'Degraded',
} as const;

export const partitionPrinterColumns: PrinterColumn[] = [
  { name: 'Pods', type: 'integer', jsonPath: '.status.matchedPods' },
  { name: 'Nodes', type: 'integer', jsonPath: '.status.nodes' },
  { name: 'Saved', type: 'string', jsonPath: '.status.savedMemory' },
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  {
    name: 'Conflicted',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Conflicted")].status',
    priority: 1,
  },
  { name: 'Last Merge', type: 'date', jsonPath: '.status.lastMerge', priority: 1 },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];
