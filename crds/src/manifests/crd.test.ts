import { describe, expect, it } from 'vitest';
import { customResourceDefinitions } from './crd.ts';

type Node = { [key: string]: unknown };

function* schemaNodes(node: Node, path: string): Generator<[string, Node]> {
  yield [path, node];
  for (const [key, child] of Object.entries((node['properties'] as Node | undefined) ?? {})) {
    yield* schemaNodes(child as Node, `${path}.${key}`);
  }
  for (const key of ['items', 'additionalProperties']) {
    const child = node[key];
    if (child && typeof child === 'object') yield* schemaNodes(child as Node, `${path}[${key}]`);
  }
}

function rootSchema(crd: Node): Node {
  const spec = crd['spec'] as { versions: { schema: { openAPIV3Schema: Node } }[] };
  const [version] = spec.versions;
  if (!version) throw new Error('no version');
  return version.schema.openAPIV3Schema;
}

describe('generated CRDs', () => {
  const crds = customResourceDefinitions();

  it('are structural: every node has a type and no JSON-Schema-only keyword', () => {
    for (const crd of crds) {
      for (const [path, node] of schemaNodes(rootSchema(crd), '')) {
        expect(node['type'], path).toBeTypeOf('string');
        for (const forbidden of ['$ref', '$schema', 'const', 'anyOf', 'oneOf', 'not']) {
          expect(node, path).not.toHaveProperty(forbidden);
        }
        expect(node['additionalProperties'], path).not.toBe(false);
      }
    }
  });

  it('bound every string and list, as CEL cost estimation needs', () => {
    for (const crd of crds) {
      for (const [path, node] of schemaNodes(rootSchema(crd), '')) {
        if (path === '.apiVersion' || path === '.kind') continue;
        if (node['type'] === 'string' && node['format'] !== 'date-time' && !node['enum']) {
          expect(node['maxLength'], path).toBeTypeOf('number');
        }
        if (node['type'] === 'array') expect(node['maxItems'], path).toBeTypeOf('number');
      }
    }
  });

  it('have a status subresource, a category and short names', () => {
    for (const crd of crds) {
      const spec = crd['spec'] as Node & { versions: Node[]; names: Node };
      expect(spec.versions[0]?.['subresources']).toEqual({ status: {} });
      expect(spec.names['categories']).toEqual(['selective-ksm']);
      expect((spec.names['shortNames'] as string[]).length).toBe(1);
    }
  });
});
