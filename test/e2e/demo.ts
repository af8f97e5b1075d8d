// `make demo`: the end-to-end scenario for a person. Starts the control
// plane, the operator and Prometheus here and a VM node on the patched
// kernel, waits for the merges, checks isolation, and prints a report.
// KEEP=1 leaves everything running until Ctrl-C.
import { execFileSync } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { env, exit, stdout } from 'node:process';
import { formatBytes } from '@selective-ksm/crds';
import { sleep } from '@selective-ksm/kube';
import { type Environment, type NodeReport, startEnvironment } from './environment.ts';
import { expectedSharing, partitions, pods } from './scenario.ts';
import { guest } from './vm.ts';

const say = (line: string) => stdout.write(`[demo] ${line}\n`);
const started = Date.now();
const elapsed = () => `${Math.round((Date.now() - started) / 1000)} s`;

/** What is missing to run, in words a user can act on. */
function missing(): string[] {
  const problems: string[] = [];
  const has = (cmd: string) => {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!has('qemu-system-x86_64'))
    problems.push('qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)');
  if (!has('gcc')) problems.push('gcc is not installed (apt-get install gcc)');
  if (!env['SKSM_TOOLS'])
    problems.push('run it through make (make demo): it sets up the tools first');
  const cache = env['SKSM_CACHE'] ?? join(homedir(), '.cache', 'selective-ksm');
  try {
    const fs = statfsSync(homedir());
    const free = fs.bavail * fs.bsize;
    if (free < 3 * 2 ** 30)
      problems.push(
        `only ${formatBytes(free)} free where ${cache} lives; the demo needs about 3 GiB`,
      );
  } catch {
    // No statfs: let the run say what fails.
  }
  return problems;
}

async function waitForMerges(e: Environment): Promise<Map<string, NodeReport>> {
  const targets = new Map([
    ['tenant-a', expectedSharing(3, e.image)],
    ['tenant-b', expectedSharing(2, e.image)],
    ['shop', 1],
  ]);
  const deadline = Date.now() + 600_000;
  for (;;) {
    const reports = new Map<string, NodeReport>();
    for (const name of targets.keys()) {
      const r = await e.report(name);
      if (r) reports.set(name, r);
    }
    const line = [...targets.keys()]
      .map((n) => `${n} ${formatBytes(reports.get(n)?.savedBytes ?? 0)}`)
      .join(', ');
    if ([...targets].every(([n, want]) => (reports.get(n)?.pagesSharing ?? 0) >= want)) {
      say(`merged: ${line} saved`);
      return reports;
    }
    if (Date.now() > deadline) throw new Error(`merges did not finish within 10 minutes (${line})`);
    say(`merging... ${line} saved so far`);
    await sleep(10_000);
  }
}

/** A sample of the agent's own metrics (labels ignored). */
async function agentMetric(e: Environment, name: string): Promise<number> {
  const text = await (await fetch(e.agentMetricsUrl)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
}

async function main(): Promise<number> {
  const problems = missing();
  if (problems.length > 0) {
    say(`cannot run the demo:\n  - ${problems.join('\n  - ')}`);
    return 1;
  }
  say(
    'Selective KSM: a Kubernetes node (a VM on the patched kernel) with two tenants of VMs and a shop',
  );
  const e = await startEnvironment(say);
  let code = 0;
  try {
    const reports = await waitForMerges(e);
    const isolation = await guest<{
      crossPartitionCount: number;
      frames: number;
      processes: number;
    }>(e.rest, {
      name: 'isolation',
      partitions: await e.partitionsNow(),
    });
    const cpu = await agentMetric(e, 'process_cpu_seconds_total');
    const lagMs = (await agentMetric(e, 'nodejs_eventloop_lag_p99_seconds')) * 1000;
    const conflicts = (await e.k.getPartition('tenant-a')).status?.['conflicts'] as
      | { namespace: string; name: string; partitions: string[] }[]
      | undefined;

    const rows = [...reports].map(([name, r]) => {
      const looked = r.pagesShared + r.pagesSharing + (r.pagesUnshared ?? 0);
      const pct = looked > 0 ? ((100 * r.pagesSharing) / looked).toFixed(0) : '0';
      return `  ${name.padEnd(10)} ${String(r.pods).padStart(4)}   ${formatBytes(r.savedBytes).padStart(8)}   ${pct.padStart(3)}% of the ${formatBytes(looked * 4096)} it merged`;
    });
    const kubeconfig = e.plane.info.kubeconfig;
    const kubectl = join(env['SKSM_TOOLS'] ?? '', 'kubectl');
    stdout.write(
      [
        '',
        `Selective KSM demo report (ready after ${elapsed()})`,
        '',
        `  partition  pods      saved`,
        ...rows,
        '',
        `  conflict:   ${(conflicts ?? []).map((c) => `${c.namespace}/${c.name} is selected by ${c.partitions.join(' and ')}: merged by neither`).join('; ') || 'none'}`,
        `  isolation:  ${isolation.crossPartitionCount === 0 ? 'PASS' : 'FAIL'}: ${isolation.crossPartitionCount} frames shared between partitions, of ${isolation.frames} anonymous frames of ${isolation.processes} processes checked through /proc/PID/pagemap`,
        `  CPU:        the agent used ${cpu.toFixed(1)} s of CPU in all (user and kernel time, the merges included) for ${pods.length} pods in ${partitions.length} partitions`,
        `              its event loop lagged ${lagMs.toFixed(0)} ms at the 99th percentile meanwhile (under software emulation)`,
        '',
        '  Explore:',
        `    ${kubectl} --kubeconfig ${kubeconfig} get ksmpartitions -o wide`,
        `    ${kubectl} --kubeconfig ${kubeconfig} get ksmnode sksm-vm -o yaml`,
        `    agent metrics:    ${e.agentMetricsUrl}`,
        `    operator metrics: ${e.operator.metricsUrl}`,
        `    Prometheus:       ${e.prom.url}/graph?g0.expr=selective_ksm_partition_saved_bytes`,
        `    VM console log:   ${join(e.runDir, 'console.log')}`,
        '',
      ].join('\n'),
    );
    if (isolation.crossPartitionCount !== 0) code = 1;
    if (env['KEEP'] === '1') {
      say('KEEP=1: everything stays up; press Ctrl-C to stop');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
  } catch (err) {
    say(`failed: ${(err as Error).message}`);
    code = 1;
  } finally {
    say('stopping the VM, Prometheus, the operator and the control plane');
    const vmCode = await e.stop();
    if (vmCode !== 0) {
      say(`the VM did not stop cleanly (${String(vmCode)}); see ${join(e.runDir, 'console.log')}`);
      code = 1;
    }
  }
  say(`done in ${elapsed()}`);
  return code;
}

exit(await main());
