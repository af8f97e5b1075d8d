import { join } from 'node:path';
import { freePort, OwnedProcess } from '../controlplane/index.ts';

// Runs the real agent (node-agent/src/main.ts) as a separate process on a
// fixture host (test/fixtures/host.ts), as its service account.

const main = join(import.meta.dirname, '..', '..', 'node-agent', 'src', 'main.ts');

export interface AgentProcess {
  node: string;
  process: OwnedProcess;
  metricsUrl: string;
}

export async function startAgent(opts: {
  node: string;
  hostRoot: string;
  kubeconfig: string;
  logDir: string;
}): Promise<AgentProcess> {
  const port = await freePort();
  const proc = new OwnedProcess(
    `agent ${opts.node}`,
    process.execPath,
    [
      main,
      `--node-name=${opts.node}`,
      `--host-root=${opts.hostRoot}`,
      `--kubeconfig=${opts.kubeconfig}`,
      `--metrics-address=127.0.0.1:${port}`,
      '--resync-seconds=1',
    ],
    join(opts.logDir, `agent-${opts.node}.log`),
  );
  return { node: opts.node, process: proc, metricsUrl: `http://127.0.0.1:${port}/metrics` };
}
