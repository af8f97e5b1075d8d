// Reading the TAP streams of the kernel suites (kselftest output, as the VM
// console shows it).

/** One program's run inside a stream. */
export interface TapSection {
  /** From the line "# Selective KSM: ..." or "# upstream: ..." that starts it; "" if none. */
  title: string;
  /** The first plan line ("1..N"); a program that re-executes itself prints more. */
  plan?: number;
  /** The last "# Totals:" line: kselftest's own count at the end of a run. */
  totals?: { passed: number; failed: number; skipped: number; ran: number };
  /** "ok" / "not ok" lines, for streams without a Totals line. */
  lines: { passed: number; failed: number; skipped: number };
  /** The text of a "Bail out!" line, if the program gave up. */
  bailOut?: string;
}

const TITLE = /^# ((?:Selective KSM|upstream): .*)$/;
const PLAN = /^1\.\.(\d+)/;
const TOTALS = /^# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) xpass:(\d+) skip:(\d+) error:(\d+)/;

function emptySection(title: string): TapSection {
  return { title, lines: { passed: 0, failed: 0, skipped: 0 } };
}

/**
 * Splits a stream into sections: a title line starts one, and so does the
 * first TAP output before any title. Lines that are not TAP (the kernel's
 * console lines, the harness's own) are ignored.
 */
export function parseTap(text: string): TapSection[] {
  const sections: TapSection[] = [];
  let current: TapSection | undefined;
  const section = (): TapSection => {
    if (!current) {
      current = emptySection('');
      sections.push(current);
    }
    return current;
  };
  for (const line of text.split('\n')) {
    const title = TITLE.exec(line);
    if (title) {
      current = emptySection(title[1] ?? '');
      sections.push(current);
      continue;
    }
    const plan = PLAN.exec(line);
    if (plan) {
      const s = section();
      s.plan ??= Number(plan[1]);
      continue;
    }
    const t = TOTALS.exec(line);
    if (t) {
      const [pass, fail, xfail, xpass, skip, error] = t.slice(1).map(Number) as [
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      section().totals = {
        passed: pass + xfail,
        failed: fail + xpass + error,
        skipped: skip,
        ran: pass + fail + xfail + xpass + skip + error,
      };
      continue;
    }
    if (line.startsWith('Bail out!')) {
      section().bailOut = line.slice('Bail out!'.length).trim();
      continue;
    }
    if (/^not ok\b/.test(line)) section().lines.failed++;
    else if (/^ok\b.*#\s*SKIP/i.test(line)) section().lines.skipped++;
    else if (/^ok\b/.test(line)) section().lines.passed++;
  }
  return sections;
}

/** Counts of a section: kselftest's Totals where printed, else its result lines. */
export function sectionCounts(s: TapSection): { passed: number; failed: number; skipped: number } {
  if (s.totals) {
    const { passed, failed, skipped } = s.totals;
    return { passed, failed, skipped };
  }
  return { ...s.lines };
}

/** Why a section is not a complete run, or undefined if it is. */
export function sectionIncomplete(s: TapSection): string | undefined {
  const name = s.title || 'the stream';
  if (s.bailOut !== undefined) return `${name}: bailed out (${s.bailOut})`;
  if (s.plan === undefined) return `${name}: no TAP plan`;
  const ran = s.totals ? s.totals.ran : s.lines.passed + s.lines.failed + s.lines.skipped;
  if (ran < s.plan) return `${name}: ${ran} of ${s.plan} planned tests ran`;
  return undefined;
}
