import { type Flags, type Parsed, parseFlags } from '@selective-ksm/kube';
import { z } from 'zod';

// Flags win over environment variables, which win over defaults.

export const AgentConfig = z.object({
  nodeName: z.string().min(1, { message: 'is required (the downward API sets NODE_NAME)' }),
  kubeconfig: z.string().optional(),
  hostRoot: z.string().min(1).default('/proc/1/root'),
  podUid: z.string().optional(),
  metricsAddress: z.string().default(':8081'),
  maxPagesPerSecond: z.coerce.number().int().min(1).max(10_000_000).default(51_200),
  chunkPages: z.coerce.number().int().min(1).max(262_144).default(512),
  resyncSeconds: z.coerce.number().int().min(1).max(3600).default(30),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

export const flags: Flags = {
  'node-name': { env: 'NODE_NAME', help: 'the node this agent runs on (required)' },
  kubeconfig: { env: 'KUBECONFIG', help: 'kubeconfig file; in a pod, the service account is used' },
  'host-root': { env: 'HOST_ROOT', help: "the host's / as seen by the agent (/proc/1/root)" },
  'pod-uid': { env: 'POD_UID', help: "the agent's own pod, never merged" },
  'metrics-address': {
    env: 'METRICS_ADDRESS',
    help: 'where /metrics, /healthz and /readyz listen (:8081)',
  },
  'max-pages-per-second': {
    env: 'MAX_PAGES_PER_SECOND',
    help: 'node-wide merge budget over all partitions (51200)',
  },
  'chunk-pages': { env: 'CHUNK_PAGES', help: 'pages per kernel call (512)' },
  'resync-seconds': { env: 'RESYNC_SECONDS', help: 'longest time between two passes (30)' },
  'log-level': { env: 'LOG_LEVEL', help: 'debug, info, warn or error (info)' },
};

export function parseConfig(
  argv: string[],
  env: Record<string, string | undefined>,
): Parsed<AgentConfig> {
  return parseFlags(AgentConfig, flags, argv, env);
}
