// Child of test/bench/agent.ts: runs six agent passes with the compiled
// agent (dist/, from make build) over a fixture host and prints the figures
// as JSON. Plain JavaScript, so that nothing but the agent's own code runs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { argv, cpuUsage, resourceUsage, stdout } from 'node:process';

const dist = join(import.meta.dirname, '..', '..', 'dist', 'node-agent', 'src');
const { CgroupLocator } = await import(join(dist, 'cgroup.js'));
const { KernelClient } = await import(join(dist, 'kernel.js'));
const { processRanges, resolveContainers } = await import(join(dist, 'resolve.js'));
const { decide } = await import(join(dist, 'schedule.js'));

const [root, statePath] = argv.slice(2);
const state = JSON.parse(await readFile(statePath, 'utf8'));
const namespaces = new Map(state.namespaces);
const kernel = new KernelClient(root);
const locator = new CgroupLocator(join(root, 'sys/fs/cgroup'));
const proc = join(root, 'proc');

async function pass() {
  const resolved = await resolveContainers(state.pods, locator, kernel, undefined);
  const d = decide({
    now: Date.now(),
    agentStartedAt: 0,
    pods: state.pods,
    namespaces,
    partitions: state.partitions,
    kernelPartitions: [],
    bindings: resolved.bindings,
    lastMerge: new Map(),
  });
  let calls = 0;
  for (const task of d.merge) {
    for (const pid of resolved.pids.get(task.container.key) ?? []) {
      calls += (await processRanges(proc, pid, state.memory, 512)).length;
    }
  }
  return { tasks: d.merge.length, calls };
}

const samples = [];
let result = { tasks: 0, calls: 0 };
for (let i = 0; i < 6; i++) {
  const cpu = cpuUsage();
  const t = performance.now();
  result = await pass();
  const used = cpuUsage(cpu);
  samples.push({ cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - t });
}
stdout.write(JSON.stringify({ ...result, samples, maxRssMiB: resourceUsage().maxRSS / 1024 }));
