import type { MemorySelection } from '@selective-ksm/crds';
import { describe, expect, it } from 'vitest';
import { sampleMaps } from '../../test/fixtures/host.ts';
import { chunk, classify, parseMaps, rangePages, selectRanges } from './maps.ts';

const all: MemorySelection = {
  anonymous: true,
  heap: true,
  stack: true,
  privateFileCopyOnWrite: true,
  minRegionSize: '4Ki',
};
const defaults: MemorySelection = {
  anonymous: true,
  heap: true,
  stack: true,
  privateFileCopyOnWrite: false,
  minRegionSize: '64Ki',
};

describe('classify', () => {
  it('sorts mappings by what KSM may merge', () => {
    expect(classify('rw-p', '')).toBe('anonymous');
    expect(classify('rw-p', '[anon:v8 heap]')).toBe('anonymous');
    expect(classify('rw-p', '[heap]')).toBe('heap');
    expect(classify('rw-p', '[stack]')).toBe('stack');
    expect(classify('rw-p', '/usr/lib/libc.so.6')).toBe('privateFile');
  });

  it('never selects shared, special, device or read-only file mappings', () => {
    expect(classify('rw-s', '')).toBe('never');
    expect(classify('rw-s', '/memfd:guest (deleted)')).toBe('never');
    expect(classify('r--p', '[vvar]')).toBe('never');
    expect(classify('r-xp', '[vdso]')).toBe('never');
    expect(classify('--xp', '[vsyscall]')).toBe('never');
    expect(classify('rw-p', '/dev/zero')).toBe('never');
    expect(classify('r-xp', '/usr/bin/app')).toBe('never');
    expect(classify('---p', '')).toBe('never');
  });
});

describe('parseMaps and selectRanges', () => {
  const maps = parseMaps(sampleMaps({ anonymousBytes: 256 * 2 ** 20 }));

  it('reads every line with its addresses', () => {
    expect(maps).toHaveLength(13);
    expect(maps[4]).toEqual({ start: 0x7f0000000000n, end: 0x7f0010000000n, kind: 'anonymous' });
    expect(maps.at(-1)?.kind).toBe('never');
  });

  it('selects the heap, the big anonymous region (a guest RAM) and the stack by default', () => {
    expect(selectRanges(maps, defaults)).toEqual([
      { start: 0x55555555c000n, end: 0x55555557d000n },
      { start: 0x7f0000000000n, end: 0x7f0010000000n },
      { start: 0x7ffffffde000n, end: 0x7ffffffff000n },
    ]);
  });

  it('selects only the anonymous region for a VM partition', () => {
    const vm = { ...defaults, heap: false, stack: false, minRegionSize: '2Mi' };
    expect(selectRanges(maps, vm)).toEqual([{ start: 0x7f0000000000n, end: 0x7f0010000000n }]);
  });

  it('joins adjacent selected mappings and drops small ones', () => {
    const joined = selectRanges(
      parseMaps(
        '1000-3000 rw-p 0 00:00 0\n3000-5000 rw-p 0 00:00 0 [anon:x]\n6000-7000 rw-p 0 00:00 0\n',
      ),
      { ...all, minRegionSize: '8Ki' },
    );
    expect(joined).toEqual([{ start: 0x1000n, end: 0x5000n }]);
  });

  it('selects writable private file mappings only when asked', () => {
    const withFiles = selectRanges(maps, all).map((r) => r.start);
    expect(withFiles).toContain(0x55555555a000n);
    expect(selectRanges(maps, defaults).map((r) => r.start)).not.toContain(0x55555555a000n);
  });

  it('handles paths with spaces and deleted files', () => {
    const [m] = parseMaps('1000-2000 rw-p 00000000 fe:01 5 /tmp/my file (deleted)\n');
    expect(m?.kind).toBe('privateFile');
  });
});

describe('chunk', () => {
  it('splits a range into pieces of at most n pages', () => {
    const pieces = chunk([{ start: 0x0n, end: 0x5000n }], 2);
    expect(pieces).toEqual([
      { start: 0x0n, end: 0x2000n },
      { start: 0x2000n, end: 0x4000n },
      { start: 0x4000n, end: 0x5000n },
    ]);
    expect(pieces.map((p) => rangePages(p))).toEqual([2, 2, 1]);
  });
});
