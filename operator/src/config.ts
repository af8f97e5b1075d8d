import { hostname } from 'node:os';
import { DURATION, parseDuration } from '@selective-ksm/crds';
import { type Flags, type Parsed, parseFlags } from '@selective-ksm/kube';
import { z } from 'zod';

// Flags win over environment variables, which win over defaults; the
// result is validated as a whole so every mistake is reported at once.

const Duration = z
  .string()
  .regex(DURATION, { message: 'must be a duration such as 15s or 2m' })
  .transform(parseDuration);

export const OperatorConfig = z
  .object({
    kubeconfig: z.string().optional(),
    metricsAddress: z.string().default(':8080'),
    leaderElectionNamespace: z.string().min(1).default('selective-ksm'),
    leaderElectionId: z.string().min(1).default('selective-ksm-operator'),
    identity: z.string().min(1),
    leaseDuration: Duration.default(15_000),
    renewDeadline: Duration.default(10_000),
    retryPeriod: Duration.default(2_000),
    releaseTimeout: Duration.default(300_000),
    staleAfter: Duration.default(120_000),
    workers: z.coerce.number().int().min(1).max(64).default(4),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  })
  .refine((c) => c.renewDeadline < c.leaseDuration, {
    message: 'renew-deadline must be shorter than lease-duration',
    path: ['renewDeadline'],
  })
  .refine((c) => c.retryPeriod < c.renewDeadline, {
    message: 'retry-period must be shorter than renew-deadline',
    path: ['retryPeriod'],
  });
export type OperatorConfig = z.infer<typeof OperatorConfig>;

export const flags: Flags = {
  kubeconfig: { env: 'KUBECONFIG', help: 'kubeconfig file; in a pod, the service account is used' },
  'metrics-address': {
    env: 'METRICS_ADDRESS',
    help: 'where /metrics, /healthz and /readyz listen',
  },
  'leader-election-namespace': { env: 'POD_NAMESPACE', help: 'namespace of the leader Lease' },
  'leader-election-id': { env: 'LEADER_ELECTION_ID', help: 'name of the leader Lease' },
  identity: { env: 'POD_NAME', help: 'this replica in the Lease (default: host name)' },
  'lease-duration': { env: 'LEASE_DURATION', help: 'how long a lease is valid (15s)' },
  'renew-deadline': {
    env: 'RENEW_DEADLINE',
    help: 'stop leading when not renewed within this (10s)',
  },
  'retry-period': { env: 'RETRY_PERIOD', help: 'interval of lease renewals and attempts (2s)' },
  'release-timeout': {
    env: 'RELEASE_TIMEOUT',
    help: 'report nodes that hold a deleted partition after this (5m)',
  },
  'stale-after': {
    env: 'STALE_AFTER',
    help: 'a KsmNode without a heartbeat for this long is not reporting (2m)',
  },
  workers: { env: 'WORKERS', help: 'partitions reconciled at once (4)' },
  'log-level': { env: 'LOG_LEVEL', help: 'debug, info, warn or error (info)' },
};

/** The configuration, or the list of problems with it. */
export function parseConfig(
  argv: string[],
  env: Record<string, string | undefined>,
): Parsed<OperatorConfig> {
  return parseFlags(OperatorConfig, flags, argv, env, { identity: hostname() });
}
