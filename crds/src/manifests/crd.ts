import { z } from 'zod';
import { CATEGORY, GROUP, type KindNames, VERSION } from '../group.ts';
import { NodeStatus, nodeNames, nodePrinterColumns } from '../node.ts';
import {
  PartitionSpec,
  PartitionStatus,
  partitionNameRule,
  partitionNames,
  partitionPrinterColumns,
} from '../partition.ts';
import type { PrinterColumn } from '../printer.ts';

// The CRDs are generated from the zod schemas, which stay the one source of
// truth: `make manifests` writes them, and CI fails when they are stale.

type JsonSchema = { [key: string]: unknown };

/** zod's JSON Schema, reduced to what a structural CRD schema allows. */
export function structuralSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'throw',
  }) as JsonSchema;
  return clean(json) as JsonSchema;
}

function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    // Unknown fields are pruned by the apiserver; `false` is not structural.
    if (key === 'additionalProperties' && value === false) continue;
    // zod writes date-time both as a format and as a long regex; one will do.
    if (key === 'pattern' && (node as JsonSchema)['format'] === 'date-time') continue;
    // zod's int bounds are JavaScript's safe range; int64 already says it.
    if ((key === 'maximum' || key === 'minimum') && Math.abs(Number(value)) === 2 ** 53 - 1) {
      continue;
    }
    if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(
        Object.entries(value as JsonSchema).map(([k, v]) => [k, clean(v)]),
      );
      continue;
    }
    out[key] = clean(value);
  }
  return out;
}

interface KindDefinition {
  names: KindNames;
  properties: Record<string, JsonSchema>;
  required?: string[];
  validations?: { rule: string; message: string }[];
  columns: PrinterColumn[];
  description: string;
}

function crd(def: KindDefinition): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.names.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'selective-ksm' },
    },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { ...def.names, categories: [CATEGORY] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: def.description,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                ...def.properties,
              },
              ...(def.required ? { required: def.required } : {}),
              ...(def.validations ? { 'x-kubernetes-validations': def.validations } : {}),
            },
          },
        },
      ],
    },
  };
}

/** Every CRD of the API, in a stable order. */
export function customResourceDefinitions(): JsonSchema[] {
  return [
    crd({
      names: partitionNames,
      description:
        'A security domain for memory deduplication: pages of the pods it selects are merged with each other and never with pages of another partition.',
      properties: {
        spec: {
          ...structuralSchema(PartitionSpec),
          description: 'Which pods and memory to merge, and when.',
        },
        status: { ...structuralSchema(PartitionStatus), description: 'Written by the operator.' },
      },
      required: ['spec'],
      validations: [{ rule: partitionNameRule.cel, message: partitionNameRule.message }],
      columns: partitionPrinterColumns,
    }),
    crd({
      names: nodeNames,
      description:
        "One node's Selective KSM report, written by that node's agent only. Named after its Node.",
      properties: {
        status: { ...structuralSchema(NodeStatus), description: "Written by the node's agent." },
      },
      columns: nodePrinterColumns,
    }),
  ];
}
