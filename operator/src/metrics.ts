import type { Condition } from '@selective-ksm/crds';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type OperatorMetrics = ReturnType<typeof createMetrics>;

/** The operator's Prometheus metrics, all prefixed selective_ksm_operator_. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const prefix = 'selective_ksm_operator_';
  const conditionsByPartition = new Map<string, Condition[]>();

  const metrics = {
    registry,
    reconciles: new Counter({
      name: `${prefix}reconciles_total`,
      help: 'Partition reconciles, by result (success, requeue, error).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: `${prefix}reconcile_duration_seconds`,
      help: 'Time to reconcile one partition, writes included.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: `${prefix}queue_depth`,
      help: 'Partitions waiting to be reconciled.',
      registers: [registry],
    }),
    leader: new Gauge({
      name: `${prefix}leader`,
      help: '1 while this replica holds the leader lease.',
      registers: [registry],
    }),
    watchRestarts: new Counter({
      name: `${prefix}watch_restarts_total`,
      help: 'Watches restarted, by resource and reason (error, gone).',
      labelNames: ['resource', 'reason'] as const,
      registers: [registry],
    }),
    partitions: new Gauge({
      name: `${prefix}partitions`,
      help: 'Partitions by condition type and status.',
      labelNames: ['condition', 'status'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const conditions of conditionsByPartition.values()) {
          for (const c of conditions) this.inc({ condition: c.type, status: c.status });
        }
      },
    }),
    observePartition(name: string, conditions: Condition[]) {
      conditionsByPartition.set(name, conditions);
    },
    forgetPartition(name: string) {
      conditionsByPartition.delete(name);
    },
  };
  return metrics;
}
