import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeTap, judgeVitest, parseRecord, type SuiteRecord, summaryLines } from './suites.ts';
import { parseTap } from './tap.ts';

// Reports recorded from real runs of the suites (see test/fixtures/results/README.md)
const fixture = (name: string) =>
  readFileSync(join(import.meta.dirname, 'fixtures/results', name), 'utf8');

const record = (name: string, exit: number, report: string): SuiteRecord => ({
  name,
  exit,
  seconds: 10,
  report,
});

describe('parseTap', () => {
  it('splits upstream runs into sections and takes the last Totals of a re-executing program', () => {
    const sections = parseTap(fixture('kernel-debug-upstream-held.tap'));
    expect(sections.map((s) => s.title)).toEqual([
      'upstream: ksm_functional_tests (a partition merged meanwhile)',
      'upstream: ksm_tests -M -p 10 (a partition merged meanwhile)',
      'upstream: ksm_tests -U (a partition merged meanwhile)',
      'upstream: ksm_tests -Z -p 10 -z 0 (a partition merged meanwhile)',
      'upstream: ksm_tests -Z -p 10 -z 1 (a partition merged meanwhile)',
      'Selective KSM: a partition held across the upstream tests',
    ]);
    // ksm_functional_tests prints the Totals of its exec'd child (8 of 9) first
    expect(sections[0]?.plan).toBe(9);
    expect(sections[0]?.totals).toEqual({ passed: 9, failed: 0, skipped: 0, ran: 9 });
  });
});

describe('judgeTap', () => {
  it('passes a complete run that exited 0', () => {
    const r = judgeTap(
      record('kernel-debug-upstream-held', 0, 'x.tap'),
      fixture('kernel-debug-upstream-held.tap'),
    );
    expect(r).toMatchObject({ passed: 14, failed: 0, skipped: 0, problems: [] });
  });

  it('fails a run cut off by the VM time limit, naming the section that did not finish', () => {
    const r = judgeTap(
      record('kernel-debug-partition', 124, 'x.tap'),
      fixture('kernel-debug-partition-timeout.tap'),
    );
    expect(r.failed).toBeGreaterThanOrEqual(1);
    expect(r.problems[0]).toBe('the VM timed out (exit status 124)');
    expect(r.problems[1]).toMatch(
      /^Selective KSM: ksm_partition_tests: \d+ of 36 planned tests ran$/,
    );
  });

  it('fails a run whose program was killed, though no test failed', () => {
    const r = judgeTap(
      record('kernel-default-stress', 1, 'x.tap'),
      fixture('kernel-default-stress-killed.tap'),
    );
    expect(r.failed).toBe(1);
    expect(r.problems).toEqual([
      'exited with status 1 and no failed test',
      expect.stringMatching(/^Selective KSM: ksm_partition_stress: \d of 9 planned tests ran$/),
    ]);
  });

  it('fails a suite whose report is missing', () => {
    const r = judgeTap(record('kernel-debug-stress', 0, 'kernel-debug-stress.tap'), undefined);
    expect(r).toMatchObject({ failed: 1, problems: ['no report kernel-debug-stress.tap'] });
  });

  it('fails a complete run when the kernel log reported problems', () => {
    const r = judgeTap(
      record('kernel-debug-upstream-held', 126, 'x.tap'),
      fixture('kernel-debug-upstream-held.tap'),
    );
    expect(r).toMatchObject({
      passed: 14,
      failed: 1,
      problems: ["the kernel's log reports problems (exit status 126)"],
    });
  });
});

describe('judgeVitest', () => {
  it('counts a test file that failed to load as a problem beside the failed test', () => {
    const r = judgeVitest(record('vitest', 1, 'x.json'), fixture('vitest-file-fails-to-load.json'));
    expect(r).toMatchObject({ passed: 1, failed: 1 });
    expect(r.problems).toEqual(['/tmp/vt/broken.test.ts: cannot load this file']);
  });

  it('fails a suite whose JSON report was never written', () => {
    expect(judgeVitest(record('e2e', 1, 'e2e.json'), undefined)).toMatchObject({
      failed: 1,
      problems: ['exited with status 1 and no failed test', 'no report e2e.json'],
    });
  });
});

describe('summaryLines', () => {
  it('ends with the totals, never 0 failed when a suite did not finish', () => {
    const lines = summaryLines([
      judgeTap(
        record('kernel-debug-upstream-held', 0, 'x.tap'),
        fixture('kernel-debug-upstream-held.tap'),
      ),
      judgeTap(
        record('kernel-debug-partition', 124, 'x.tap'),
        fixture('kernel-debug-partition-timeout.tap'),
      ),
    ]);
    expect(lines.at(-1)).toMatch(
      /^tests: \d+ passed, [1-9]\d* failed, 0 skipped \(2 suites, 20 s\)$/,
    );
    expect(lines.join('\n')).toContain('FAIL kernel-debug-partition');
  });
});

describe('parseRecord', () => {
  it('reads the line test/suite.sh writes and refuses others', () => {
    expect(parseRecord('e2e', 'exit=0 seconds=87 report=e2e.json\n')).toEqual({
      name: 'e2e',
      exit: 0,
      seconds: 87,
      report: 'e2e.json',
    });
    expect(parseRecord('e2e', 'exit=0\n')).toBeUndefined();
  });
});
