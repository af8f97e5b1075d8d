#!/usr/bin/env node
// The node agent's entry point.
import type { Server } from 'node:http';
import { argv, env, exit } from 'node:process';
import {
  configOrExit,
  createLogger,
  loadConnection,
  Rest,
  serveEndpoints,
} from '@selective-ksm/kube';
import { Agent } from './agent.ts';
import { flags, parseConfig } from './config.ts';
import { createMetrics } from './metrics.ts';

const config = configOrExit('selective-ksm-agent', flags, parseConfig(argv.slice(2), env));
const log = createLogger(config.logLevel, { component: 'agent', node: config.nodeName });
const rest = new Rest(loadConnection(config.kubeconfig), 'selective-ksm-agent');
const metrics = createMetrics(config.nodeName);
const agent = new Agent({
  rest,
  log,
  metrics,
  nodeName: config.nodeName,
  hostRoot: config.hostRoot,
  selfPodUid: config.podUid,
  maxPagesPerSecond: config.maxPagesPerSecond,
  chunkPages: config.chunkPages,
  resyncMs: config.resyncSeconds * 1000,
  reportMinIntervalMs: 2_000,
  heartbeatMs: 30_000,
});

let server: Server;
try {
  server = await serveEndpoints(config.metricsAddress, metrics.registry, {
    healthy: () => true,
    ready: () => agent.ready,
  });
} catch (err) {
  log.error('cannot serve metrics and probes', {
    address: config.metricsAddress,
    error: (err as Error).message,
  });
  exit(1);
}
log.info('started', { hostRoot: config.hostRoot, metricsAddress: config.metricsAddress });
agent.start();

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { signal });
  await agent.stop();
  server.close();
  rest.close();
  exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
