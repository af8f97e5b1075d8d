import { z } from 'zod';
import { API_VERSION, type KindNames } from './group.ts';
import { Conditions, Count, ObjectMeta } from './meta.ts';
import type { PrinterColumn } from './printer.ts';

/**
 * KsmNode: what one node's agent reports, named after its Node and owned by
 * it. Only that node's agent writes it; the operator reads every KsmNode and
 * aggregates them into KsmPartition status.
 */
export const nodeNames: KindNames = {
  kind: 'KsmNode',
  listKind: 'KsmNodeList',
  plural: 'ksmnodes',
  singular: 'ksmnode',
  shortNames: ['ksmn'],
};

export const KernelSupport = z.object({
  selectiveKsm: z.boolean().describe('The running kernel has CONFIG_SELECTIVE_KSM.'),
  release: z.string().max(128).describe('uname -r of the node.'),
  message: z.string().max(1024).optional().describe('Why merging is off, when it is.'),
});
export type KernelSupport = z.infer<typeof KernelSupport>;

export const MergeError = z.object({
  time: z.iso.datetime(),
  pod: z.string().max(317).optional().describe('namespace/name of the pod concerned.'),
  reason: z.string().max(64).describe('A CamelCase word such as ProcessGone or PermissionDenied.'),
  message: z.string().max(1024),
});
export type MergeError = z.infer<typeof MergeError>;

export const NodePartitionReport = z.object({
  name: z.string().max(63).describe('The KsmPartition this report is about.'),
  pods: z.int().min(0),
  processes: z.int().min(0),
  pagesShared: Count,
  pagesSharing: Count,
  pagesUnshared: Count.optional(),
  savedBytes: Count,
  lastMerge: z.iso.datetime().optional(),
  errors: z.array(MergeError).max(10).optional().describe('The most recent errors, newest first.'),
});
export type NodePartitionReport = z.infer<typeof NodePartitionReport>;

export const NodeStatus = z.object({
  kernel: KernelSupport.optional(),
  heartbeatTime: z.iso.datetime().optional().describe('When the agent last wrote this status.'),
  partitions: z
    .array(NodePartitionReport)
    .max(256)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
    .describe('Every partition the agent holds pages of; a released partition is absent.'),
  savedBytes: Count.optional().describe('Sum over partitions.'),
  savedMemory: z.string().max(16).optional(),
  conditions: Conditions.optional(),
});
export type NodeStatus = z.infer<typeof NodeStatus>;

export const KsmNode = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(nodeNames.kind),
  metadata: ObjectMeta,
  status: NodeStatus.optional(),
});
export type KsmNode = z.infer<typeof KsmNode>;

export const nodePrinterColumns: PrinterColumn[] = [
  { name: 'Kernel Support', type: 'boolean', jsonPath: '.status.kernel.selectiveKsm' },
  { name: 'Release', type: 'string', jsonPath: '.status.kernel.release', priority: 1 },
  { name: 'Saved', type: 'string', jsonPath: '.status.savedMemory' },
  { name: 'Heartbeat', type: 'date', jsonPath: '.status.heartbeatTime' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];
