import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { invalidPartitions } from '../../test/fixtures/invalid-partitions.ts';
import { KsmPartition } from './partition.ts';

const samplesDir = join(import.meta.dirname, '..', 'samples');

function partition(name: string | undefined, spec: unknown) {
  return {
    apiVersion: 'selectiveksm.io/v1alpha1',
    kind: 'KsmPartition',
    metadata: { name: name ?? 'p' },
    ...(spec === undefined ? {} : { spec }),
  };
}

describe('KsmPartition schema', () => {
  it('fills in the documented defaults', () => {
    const p = KsmPartition.parse(partition('p', { podSelector: {} }));
    expect(p.spec.memory).toEqual({
      anonymous: true,
      heap: true,
      stack: true,
      privateFileCopyOnWrite: false,
      minRegionSize: '64Ki',
    });
    expect(p.spec.merge).toEqual({ initialDelay: '30s', maxPagesPerSecond: 25_600 });
    expect(p.spec.unmergeOnRelease).toBe(true);
  });

  it('accepts every sample', async () => {
    const files = (await readdir(samplesDir)).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const result = KsmPartition.safeParse(parse(await readFile(join(samplesDir, f), 'utf8')));
      expect(result.error?.issues ?? [], f).toEqual([]);
    }
  });

  for (const bad of invalidPartitions.filter((b) => b.ours)) {
    it(`rejects ${bad.why} with the same message as the apiserver`, () => {
      const result = KsmPartition.safeParse(partition(bad.name, bad.spec));
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((i) => i.message)).toContain(bad.message);
    });
  }

  it('rejects the other invalid objects too', () => {
    for (const bad of invalidPartitions.filter((b) => !b.ours)) {
      expect(KsmPartition.safeParse(partition(bad.name, bad.spec)).success, bad.why).toBe(false);
    }
  });
});
