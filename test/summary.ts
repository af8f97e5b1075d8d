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

/** Counts "ok"/"not ok" lines of a TAP stream; "# SKIP" counts as skipped. */
function tapCounts(text: string): Counts {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const line of text.split('\n')) {
    if (/^not ok\b/.test(line)) counts.failed++;
    else if (/^ok\b.*#\s*SKIP/i.test(line)) counts.skipped++;
    else if (/^ok\b/.test(line)) counts.passed++;
  }
  return counts;
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
