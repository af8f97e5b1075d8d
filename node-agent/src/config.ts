import { parseArgs } from 'node:util';
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

const flags = {
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
} as const;

export const usage = `usage: selective-ksm-agent [flags]\n\n${Object.entries(flags)
  .map(([flag, f]) => `  --${flag.padEnd(22)} ${f.help} [$${f.env}]`)
  .join('\n')}\n`;

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function parseConfig(
  argv: string[],
  env: Record<string, string | undefined>,
): { config: AgentConfig } | { help: true } | { errors: string[] } {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(Object.keys(flags).map((f) => [f, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    return { errors: [(err as Error).message] };
  }
  if (values['help']) return { help: true };
  const raw: Record<string, unknown> = {};
  for (const [flag, f] of Object.entries(flags)) {
    const value = values[flag] ?? env[f.env];
    if (value !== undefined && value !== '') raw[camel(flag)] = value;
  }
  const result = AgentConfig.safeParse(raw);
  if (!result.success) {
    return {
      errors: result.error.issues.map((i) => `--${kebab(String(i.path[0] ?? ''))}: ${i.message}`),
    };
  }
  return { config: result.data };
}
