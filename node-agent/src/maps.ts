import type { MemorySelection } from '@selective-ksm/crds';
import { parseByteSize } from '@selective-ksm/crds';

// From /proc/PID/maps to the address ranges worth merging. KSM merges
// anonymous pages only: private anonymous memory (a VM's guest RAM, malloc
// arenas), the heap and stack, and the copied-on-write pages of writable
// private file mappings. Shared mappings, device mappings and the kernel's
// special ones ([vvar], [vdso], [vsyscall]) are never touched.

export type MappingKind = 'anonymous' | 'heap' | 'stack' | 'privateFile' | 'never';

export interface Mapping {
  start: bigint;
  end: bigint;
  kind: MappingKind;
}

export interface Range {
  start: bigint;
  end: bigint;
}

/** What a maps line is, from its permissions and path alone. */
export function classify(perms: string, path: string): MappingKind {
  if (perms[3] !== 'p' || perms[0] !== 'r') return 'never';
  if (path === '') return 'anonymous';
  if (path === '[heap]') return 'heap';
  if (path === '[stack]') return 'stack';
  if (path.startsWith('[anon:')) return 'anonymous';
  if (path.startsWith('[')) return 'never';
  if (path.startsWith('/dev/') || path.startsWith('/memfd:') || path.startsWith('/SYSV'))
    return 'never';
  return perms[1] === 'w' ? 'privateFile' : 'never';
}

/**
 * Parses the text of /proc/PID/maps. Written for speed (thousands of lines
 * per process in large programs): one pass, no regular expression per line.
 */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  let pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    const dash = text.indexOf('-', pos);
    const sp1 = text.indexOf(' ', dash);
    if (dash > pos && sp1 > dash && sp1 < eol) {
      const perms = text.slice(sp1 + 1, sp1 + 5);
      // The path starts after offset, device and inode, padded with spaces.
      let field = 0;
      let i = sp1 + 1;
      while (i < eol && field < 4) {
        while (i < eol && text.charCodeAt(i) !== 32) i++;
        while (i < eol && text.charCodeAt(i) === 32) i++;
        field++;
      }
      const path = text.slice(i, eol).replace(/ \(deleted\)$/, '');
      out.push({
        start: BigInt(`0x${text.slice(pos, dash)}`),
        end: BigInt(`0x${text.slice(dash + 1, sp1)}`),
        kind: classify(perms, path),
      });
    }
    pos = eol + 1;
  }
  return out;
}

const wanted: Record<Exclude<MappingKind, 'never'>, keyof MemorySelection> = {
  anonymous: 'anonymous',
  heap: 'heap',
  stack: 'stack',
  privateFile: 'privateFileCopyOnWrite',
};

/**
 * The ranges a partition's memory spec selects: mappings of the wanted
 * kinds, adjacent ones joined, then those smaller than minRegionSize dropped.
 */
export function selectRanges(mappings: readonly Mapping[], memory: MemorySelection): Range[] {
  const min = BigInt(parseByteSize(memory.minRegionSize));
  const joined: Range[] = [];
  for (const m of mappings) {
    if (m.kind === 'never' || !memory[wanted[m.kind]]) continue;
    const last = joined.at(-1);
    if (last && last.end === m.start) last.end = m.end;
    else joined.push({ start: m.start, end: m.end });
  }
  return joined.filter((r) => r.end - r.start >= min);
}

/** Splits ranges into pieces of at most `pages` pages, for pacing. */
export function chunk(ranges: readonly Range[], pages: number, pageSize = 4096n): Range[] {
  const step = BigInt(pages) * pageSize;
  const out: Range[] = [];
  for (const r of ranges) {
    for (let s = r.start; s < r.end; s += step) {
      out.push({ start: s, end: s + step < r.end ? s + step : r.end });
    }
  }
  return out;
}

export function rangePages(r: Range, pageSize = 4096n): number {
  return Number((r.end - r.start) / pageSize);
}
