// Prints the closing line of `make test`, "tests: N passed, N failed", from
// the JSON reports the suites wrote (vitest's, and TAP counts if any).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { argv, exit, stdout } from 'node:process';

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * Counts of a TAP stream. kselftest programs end each run with a line
 * "# Totals: pass:N fail:N ... skip:N"; where a stream has sections (a line
 * "# Selective KSM: ..." or "# upstream: ..." starts each), the last Totals
 * line of each section counts: a program that re-executes itself prints a
 * partial run of its own first. Without Totals lines, "ok"/"not ok" lines count.
 */
function tapCounts(text: string): Counts {
  const sections = new Map<number, Counts>();
  const byLines = { passed: 0, failed: 0, skipped: 0 };
  let section = 0;
  for (const line of text.split('\n')) {
    if (/^# (Selective KSM|upstream): /.test(line)) section++;
    const t = /^# Totals: pass:(\d+) fail:(\d+).* skip:(\d+)/.exec(line);
    if (t)
      sections.set(section, { passed: Number(t[1]), failed: Number(t[2]), skipped: Number(t[3]) });
    if (/^not ok\b/.test(line)) byLines.failed++;
    else if (/^ok\b.*#\s*SKIP/i.test(line)) byLines.skipped++;
    else if (/^ok\b/.test(line)) byLines.passed++;
  }
  if (sections.size === 0) return byLines;
  const total = { passed: 0, failed: 0, skipped: 0 };
  for (const c of sections.values()) {
    total.passed += c.passed;
    total.failed += c.failed;
    total.skipped += c.skipped;
  }
  return total;
}

async function main(dir: string): Promise<number> {
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const file of (await readdir(dir)).sort()) {
    const text = await readFile(join(dir, file), 'utf8');
    let c: Counts;
    if (file.endsWith('.json')) {
      const r = JSON.parse(text) as VitestReport;
      c = {
        passed: r.numPassedTests,
        failed: r.numFailedTests,
        skipped: r.numPendingTests + r.numTodoTests,
      };
    } else if (file.endsWith('.tap')) {
      c = tapCounts(text);
    } else {
      continue;
    }
    stdout.write(`  ${file}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped\n`);
    total.passed += c.passed;
    total.failed += c.failed;
    total.skipped += c.skipped;
  }
  stdout.write(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
  return total.failed === 0 && total.passed > 0 ? 0 : 1;
}

exit(await main(argv[2] ?? '.local/test-results'));
