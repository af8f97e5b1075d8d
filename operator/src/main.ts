#!/usr/bin/env node
// The operator's entry point: configuration, leader election, and the
// controller while this replica leads.
import type { Server } from 'node:http';
import { argv, env, exit } from 'node:process';
import {
  configOrExit,
  createLogger,
  LeaderElector,
  loadConnection,
  Rest,
  serveEndpoints,
} from '@selective-ksm/kube';
import { flags, parseConfig } from './config.ts';
import { Controller } from './controller.ts';
import { createMetrics } from './metrics.ts';

const config = configOrExit('selective-ksm-operator', flags, parseConfig(argv.slice(2), env));
const log = createLogger(config.logLevel, { component: 'operator', identity: config.identity });
const rest = new Rest(loadConnection(config.kubeconfig), 'selective-ksm-operator');
const metrics = createMetrics();

let controller: Controller | undefined;
let transition = Promise.resolve();

function lead(leading: boolean): void {
  metrics.leader.set(leading ? 1 : 0);
  // Start and stop in order, never two controllers at once.
  transition = transition.then(async () => {
    if (leading && !controller) {
      controller = new Controller({
        rest,
        log,
        metrics,
        workers: config.workers,
        settings: { staleAfterMs: config.staleAfter, releaseTimeoutMs: config.releaseTimeout },
      });
      controller.start();
    } else if (!leading && controller) {
      const c = controller;
      controller = undefined;
      await c.stop();
    }
  });
}

const elector = new LeaderElector(rest, {
  namespace: config.leaderElectionNamespace,
  name: config.leaderElectionId,
  identity: config.identity,
  leaseDurationMs: config.leaseDuration,
  renewDeadlineMs: config.renewDeadline,
  retryPeriodMs: config.retryPeriod,
  log,
  onLeading: lead,
});

let server: Server;
try {
  server = await serveEndpoints(config.metricsAddress, metrics.registry, {
    healthy: () => true,
    // A standby replica is ready to take over; a leader once its caches are synced.
    ready: () => !elector.isLeader || (controller?.synced ?? false),
  });
} catch (err) {
  log.error('cannot serve metrics and probes', {
    address: config.metricsAddress,
    error: (err as Error).message,
  });
  exit(1);
}
log.info('started', { metricsAddress: config.metricsAddress });
elector.start();

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { signal });
  await elector.stop();
  await transition;
  server.close();
  rest.close();
  exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
