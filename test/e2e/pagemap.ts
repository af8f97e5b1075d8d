import { open } from 'node:fs/promises';

// Reads which physical frame backs each page of a process, from
// /proc/PID/pagemap (root only: others see PFN 0). Two pages share a frame
// exactly when their PFNs are equal; that is how the isolation check proves
// that no frame is shared between two partitions.

const PRESENT = 1n << 63n;
const FILE_OR_SHARED = 1n << 61n;
const PFN_MASK = (1n << 55n) - 1n;

export interface Frame {
  address: bigint;
  pfn: bigint;
}

/** Frames of the present, private anonymous pages in [start, end). */
export async function anonymousFrames(pid: number, start: bigint, end: bigint): Promise<Frame[]> {
  const pages = Number((end - start) / 4096n);
  const buf = Buffer.alloc(pages * 8);
  const fh = await open(`/proc/${pid}/pagemap`, 'r');
  try {
    await fh.read(buf, 0, buf.length, Number((start / 4096n) * 8n));
  } finally {
    await fh.close();
  }
  const out: Frame[] = [];
  for (let i = 0; i < pages; i++) {
    const entry = buf.readBigUInt64LE(i * 8);
    if ((entry & PRESENT) === 0n || (entry & FILE_OR_SHARED) !== 0n) continue;
    out.push({ address: start + BigInt(i) * 4096n, pfn: entry & PFN_MASK });
  }
  return out;
}

export interface Owner {
  pid: number;
  partition: string;
}

/**
 * Frames mapped by processes of more than one partition. Must be empty.
 * `ignore` holds frames that are shared by design, such as the zero page.
 */
export function crossPartitionFrames(
  frames: readonly { owner: Owner; frames: readonly Frame[] }[],
  ignore: ReadonlySet<bigint> = new Set(),
): { pfn: bigint; partitions: string[] }[] {
  const byFrame = new Map<bigint, Set<string>>();
  for (const { owner, frames: list } of frames) {
    for (const f of list) {
      if (ignore.has(f.pfn)) continue;
      let set = byFrame.get(f.pfn);
      if (!set) {
        set = new Set();
        byFrame.set(f.pfn, set);
      }
      set.add(owner.partition);
    }
  }
  return [...byFrame]
    .filter(([, partitions]) => partitions.size > 1)
    .map(([pfn, partitions]) => ({ pfn, partitions: [...partitions].sort() }));
}

/** Pages and distinct page contents of some memory, as loaded page by page. */
export function pageStats(images: readonly Buffer[]): { pages: number; distinct: number } {
  const seen = new Set<string>();
  let pages = 0;
  for (const image of images) {
    for (let off = 0; off < image.length; off += 4096) {
      const page = Buffer.alloc(4096);
      image.copy(page, 0, off, Math.min(off + 4096, image.length));
      seen.add(page.toString('base64'));
      pages++;
    }
  }
  return { pages, distinct: seen.size };
}
