// Durations and byte sizes as they appear in the API ("30s", "10m", "64Ki"),
// in a subset of the Kubernetes notations that CEL's duration() and
// quantity() also accept, so the apiserver and our code agree.

/** "1h30m", "45s", "500ms": a Go duration with whole numbers. */
export const DURATION = /^([0-9]{1,9}(ms|s|m|h))+$/;

const durationUnitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in a duration; throws on anything {@link DURATION} rejects. */
export function parseDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/([0-9]+)(ms|s|m|h)/g)) {
    ms += Number(n) * (durationUnitMs[unit ?? ''] ?? Number.NaN);
  }
  return ms;
}

/** "64Ki", "2Mi", "1G", "4096": a whole number with an optional suffix. */
export const BYTE_SIZE = /^[0-9]{1,15}(Ki|Mi|Gi|Ti|k|M|G|T)?$/;

const sizeFactor: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** Bytes in a size; throws on anything {@link BYTE_SIZE} rejects. */
export function parseByteSize(text: string): number {
  const m = /^([0-9]+)([A-Za-z]*)$/.exec(text);
  if (!BYTE_SIZE.test(text) || !m) throw new Error(`invalid size ${JSON.stringify(text)}`);
  return Number(m[1]) * (sizeFactor[m[2] ?? ''] ?? Number.NaN);
}

/** 1536 → "1.5Ki"; three significant digits, binary suffixes, for people. */
export function formatBytes(bytes: number): string {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits))}${units[i]}`;
}
