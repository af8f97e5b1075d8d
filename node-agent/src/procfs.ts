import { readdirSync, readFileSync } from 'node:fs';

// /proc, cgroupfs and sysfs files are small and made by the kernel on read:
// no disk wait. Reading them synchronously costs a fraction of the CPU of
// the promise API, which makes four thread-pool round trips per file; the
// callers yield to the event loop between containers, so no single stretch
// of reads holds it for long.

/** The file's text, or undefined if it cannot be read (a process gone, say). */
export function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Names of the subdirectories, or none if the folder cannot be read. */
export function subdirectories(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}
