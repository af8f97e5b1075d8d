import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { adminConfig, kubeRequest } from '../controlplane/index.ts';
import { invalidPartitions } from '../fixtures/invalid-partitions.ts';

const group = 'selectiveksm.io';
const version = 'v1alpha1';
const plural = 'ksmpartitions';
const samplesDir = join(import.meta.dirname, '..', '..', 'crds', 'samples');

type Obj = { [key: string]: unknown; metadata: { name: string; resourceVersion?: string } };

let kc: KubeConfig;
let api: CustomObjectsApi;
const created: string[] = [];

beforeAll(() => {
  kc = adminConfig(inject('controlPlane'));
  api = kc.makeApiClient(CustomObjectsApi);
});

afterEach(async () => {
  for (const name of created.splice(0)) {
    await api.deleteClusterCustomObject({ group, version, plural, name }).catch(() => {});
  }
});

async function create(body: object): Promise<Obj> {
  const obj = (await api.createClusterCustomObject({ group, version, plural, body })) as Obj;
  created.push(obj.metadata.name);
  return obj;
}

/** The apiserver's message for a refused request. */
async function refusal(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (err) {
    const e = err as { code?: number; body?: string };
    expect(e.code).toBe(422);
    return (JSON.parse(e.body ?? '{}') as { message?: string }).message ?? '';
  }
  throw new Error('the apiserver accepted it');
}

function partition(name: string, spec: unknown): object {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'KsmPartition',
    metadata: { name },
    ...(spec === undefined ? {} : { spec }),
  };
}

describe('CRDs on a real apiserver', () => {
  it('are served with short names and the category', async () => {
    const res = (await api.getAPIResources({ group, version })) as {
      resources: { name: string; shortNames?: string[]; categories?: string[] }[];
    };
    const byName = new Map(res.resources.map((r) => [r.name, r]));
    expect(byName.get('ksmpartitions')?.shortNames).toEqual(['ksmp']);
    expect(byName.get('ksmnodes')?.shortNames).toEqual(['ksmn']);
    expect(byName.get('ksmpartitions')?.categories).toEqual(['selective-ksm']);
    expect(byName.has('ksmpartitions/status')).toBe(true);
  });

  it('accept every sample and apply the schema defaults', async () => {
    const files = (await readdir(samplesDir)).filter((f) => f.endsWith('.yaml'));
    for (const f of files) {
      const obj = await create(parse(await readFile(join(samplesDir, f), 'utf8')) as object);
      const spec = obj['spec'] as {
        unmergeOnRelease: boolean;
        merge: { maxPagesPerSecond: number };
      };
      expect(typeof spec.unmergeOnRelease, f).toBe('boolean');
      expect(spec.merge.maxPagesPerSecond, f).toBeGreaterThan(0);
    }
  });

  it('default an almost empty partition exactly as the zod schema does', async () => {
    const obj = await create(partition('defaults', { podSelector: {} }));
    expect(obj['spec']).toEqual({
      podSelector: {},
      memory: {
        anonymous: true,
        heap: true,
        stack: true,
        privateFileCopyOnWrite: false,
        minRegionSize: '64Ki',
      },
      merge: { initialDelay: '30s', maxPagesPerSecond: 25_600 },
      unmergeOnRelease: true,
    });
  });

  it(`refuse ${invalidPartitions.length} kinds of invalid partition with the schema's message`, async () => {
    expect(invalidPartitions.length).toBeGreaterThanOrEqual(10);
    for (const [i, bad] of invalidPartitions.entries()) {
      const body = partition(bad.name ?? `invalid-${i}`, bad.spec);
      const message = await refusal(
        api.createClusterCustomObject({ group, version, plural, body }),
      );
      expect(message, bad.why).toContain(bad.message);
    }
  });

  it('write status only through the status subresource', async () => {
    const status = { matchedPods: 3, savedMemory: '1Mi' };
    const obj = await create({ ...partition('status-only', { podSelector: {} }), status });
    expect(obj['status']).toBeUndefined();

    const updated = (await api.replaceClusterCustomObject({
      group,
      version,
      plural,
      name: 'status-only',
      body: { ...obj, status },
    })) as Obj;
    expect(updated['status']).toBeUndefined();

    const viaStatus = (await api.replaceClusterCustomObjectStatus({
      group,
      version,
      plural,
      name: 'status-only',
      body: { ...updated, spec: { podSelector: { matchLabels: { changed: 'yes' } } }, status },
    })) as Obj;
    expect(viaStatus['status']).toEqual(status);
    expect(viaStatus['spec']).toEqual(obj['spec']);
  });

  it('show the printer columns in the Table API', async () => {
    const obj = await create(partition('table', { podSelector: {} }));
    await api.replaceClusterCustomObjectStatus({
      group,
      version,
      plural,
      name: 'table',
      body: {
        ...obj,
        status: {
          matchedPods: 4,
          nodes: 2,
          savedMemory: '1.5Gi',
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'Merged',
              message: 'ok',
              lastTransitionTime: '2026-01-01T00:00:00Z',
            },
          ],
        },
      },
    });
    const table = await getTable(
      kc,
      `/apis/${group}/${version}/${plural}?fieldSelector=metadata.name%3Dtable`,
    );
    expect(table.columnDefinitions.map((c) => c.name)).toEqual([
      'Name',
      'Pods',
      'Nodes',
      'Saved',
      'Ready',
      'Conflicted',
      'Last Merge',
      'Age',
    ]);
    expect(table.rows[0]?.cells.slice(0, 5)).toEqual(['table', 4, 2, '1.5Gi', 'True']);
  });
});

async function getTable(
  config: KubeConfig,
  path: string,
): Promise<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }> {
  const res = await kubeRequest(config, path, {
    headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
  });
  expect(res.status, res.body).toBe(200);
  return JSON.parse(res.body) as {
    columnDefinitions: { name: string }[];
    rows: { cells: unknown[] }[];
  };
}
