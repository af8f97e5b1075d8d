// Prints the closing lines of `make test`: one per suite (counts, time, and
// why it failed), then "tests: N passed, N failed, N skipped". Reads what
// test/suite.sh recorded in the results folder; exits non-zero unless every
// suite finished and passed.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { argv, exit, stdout } from 'node:process';
import { judgeTap, judgeVitest, parseRecord, type SuiteResult, summaryLines } from './suites.ts';

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function main(dir: string, expected: string[]): Promise<number> {
  const results: SuiteResult[] = [];
  const recorded = (await readdir(dir)).filter((f) => f.endsWith('.suite'));
  // Suites in the order make ran them; a suite that never recorded an end is failed
  const names = [...expected, ...recorded.map((f) => f.slice(0, -'.suite'.length)).sort()];
  for (const name of new Set(names)) {
    const line = await readOrUndefined(join(dir, `${name}.suite`));
    const rec = line === undefined ? undefined : parseRecord(name, line);
    if (!rec) {
      results.push({
        name,
        seconds: 0,
        passed: 0,
        failed: 1,
        skipped: 0,
        problems: [line === undefined ? 'did not run' : `unreadable record: ${line.trim()}`],
      });
      continue;
    }
    const report = await readOrUndefined(join(dir, rec.report));
    results.push(rec.report.endsWith('.json') ? judgeVitest(rec, report) : judgeTap(rec, report));
  }
  for (const line of summaryLines(results)) stdout.write(`${line}\n`);
  const bad = results.some((r) => r.failed > 0 || r.problems.length > 0);
  const passed = results.reduce((n, r) => n + r.passed, 0);
  return bad || passed === 0 ? 1 : 0;
}

exit(await main(argv[2] ?? '.local/test-results', argv.slice(3)));
