// Judging how each suite of `make test` ended, from what test/suite.sh
// recorded and the suite's report. Pure: test/summary.ts does the reading.
import { parseTap, sectionCounts, sectionIncomplete } from './tap.ts';

/** A line "exit=N seconds=N report=FILE" written by test/suite.sh. */
export interface SuiteRecord {
  name: string;
  exit: number;
  seconds: number;
  report: string;
}

export interface SuiteResult {
  name: string;
  seconds: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Why the suite did not finish cleanly; a suite with any counts as failed. */
  problems: string[];
}

/** What vitest's JSON reporter writes, as far as it is read here. */
interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults?: { name: string; status: string; message?: string; assertionResults: unknown[] }[];
}

export function parseRecord(name: string, text: string): SuiteRecord | undefined {
  const m = /^exit=(\d+) seconds=(\d+) report=(\S+)\s*$/.exec(text);
  if (!m) return undefined;
  return { name, exit: Number(m[1]), seconds: Number(m[2]), report: m[3] ?? '' };
}

// Exit statuses of kernel-module/scripts/vm-run.sh that no test result shows
const VM_STATUS: Record<number, string> = {
  124: 'the VM timed out',
  125: 'the VM stopped without reporting the status of its command',
  126: "the kernel's log reports problems",
};

function exitProblem(exit: number, failed: number): string | undefined {
  if (exit === 0) return undefined;
  const why = VM_STATUS[exit];
  if (why) return `${why} (exit status ${exit})`;
  // A failing test explains a failing status; without one, the suite broke
  return failed > 0 ? undefined : `exited with status ${exit} and no failed test`;
}

function finish(
  rec: SuiteRecord,
  counts: { passed: number; failed: number; skipped: number },
  problems: string[],
): SuiteResult {
  const exit = exitProblem(rec.exit, counts.failed);
  const all = exit ? [exit, ...problems] : problems;
  const failed = all.length > 0 && counts.failed === 0 ? 1 : counts.failed;
  return { name: rec.name, seconds: rec.seconds, ...counts, failed, problems: all };
}

/** A kernel suite: its TAP stream (undefined if the file is missing). */
export function judgeTap(rec: SuiteRecord, text: string | undefined): SuiteResult {
  if (text === undefined) return finish(rec, zero(), [`no report ${rec.report}`]);
  const sections = parseTap(text);
  const counts = zero();
  const problems: string[] = [];
  for (const s of sections) {
    const c = sectionCounts(s);
    counts.passed += c.passed;
    counts.failed += c.failed;
    counts.skipped += c.skipped;
    const why = sectionIncomplete(s);
    if (why) problems.push(why);
  }
  if (sections.length === 0) problems.push('no TAP output');
  return finish(rec, counts, problems);
}

/** A vitest run: its JSON report (undefined if the file is missing). */
export function judgeVitest(rec: SuiteRecord, text: string | undefined): SuiteResult {
  if (text === undefined) return finish(rec, zero(), [`no report ${rec.report}`]);
  let r: VitestReport;
  try {
    r = JSON.parse(text) as VitestReport;
  } catch {
    return finish(rec, zero(), [`${rec.report} is not JSON`]);
  }
  const counts = {
    passed: r.numPassedTests,
    failed: r.numFailedTests,
    skipped: r.numPendingTests + r.numTodoTests,
  };
  // A test file that fails to load (or whose hooks fail) runs no test
  const problems = (r.testResults ?? [])
    .filter((f) => f.status === 'failed' && f.assertionResults.length === 0)
    .map((f) => `${f.name}: ${f.message?.split('\n')[0] || 'failed without running a test'}`);
  return finish(rec, counts, problems);
}

function zero(): { passed: number; failed: number; skipped: number } {
  return { passed: 0, failed: 0, skipped: 0 };
}

/** The closing lines: one per suite, then the totals. */
export function summaryLines(results: SuiteResult[]): string[] {
  const width = Math.max(0, ...results.map((r) => r.name.length));
  const lines = results.map((r) => {
    const mark = r.problems.length > 0 || r.failed > 0 ? 'FAIL' : 'ok  ';
    const head = `  ${mark} ${r.name.padEnd(width)}  ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped in ${r.seconds} s`;
    return [head, ...r.problems.map((p) => `         ${p}`)].join('\n');
  });
  const sum = (k: 'passed' | 'failed' | 'skipped') => results.reduce((n, r) => n + r[k], 0);
  const seconds = results.reduce((n, r) => n + r.seconds, 0);
  lines.push(
    `tests: ${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped (${results.length} suites, ${seconds} s)`,
  );
  return lines;
}
