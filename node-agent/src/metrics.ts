import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PartitionCounters } from './kernel.ts';

export type AgentMetrics = ReturnType<typeof createMetrics>;

const PAGE_SIZE = 4096;

/**
 * The agent's metrics: selective_ksm_agent_* for its own work and
 * selective_ksm_partition_* for what the kernel reports per partition.
 * Labelled by partition, never by process.
 */
export function createMetrics(nodeName: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeName });
  collectDefaultMetrics({ register: registry });
  const r = [registry];
  const partition = ['partition'] as const;

  const savedBytes = new Gauge({
    name: 'selective_ksm_partition_saved_bytes',
    help: 'Memory saved by merging (pages sharing × page size).',
    labelNames: partition,
    registers: r,
  });
  const pagesSharing = new Gauge({
    name: 'selective_ksm_partition_pages_sharing',
    help: 'Pages that map a frame shared with another page of the partition (pages saved).',
    labelNames: partition,
    registers: r,
  });
  const pagesShared = new Gauge({
    name: 'selective_ksm_partition_pages_shared',
    help: 'Frames that back merged pages.',
    labelNames: partition,
    registers: r,
  });
  const pagesUnshared = new Gauge({
    name: 'selective_ksm_partition_pages_unshared',
    help: "Pages waiting in the partition's unstable tree for a duplicate.",
    labelNames: partition,
    registers: r,
  });
  const pagesScanned = new Gauge({
    name: 'selective_ksm_partition_pages_scanned',
    help: 'Pages the kernel has looked at for this partition since it was created.',
    labelNames: partition,
    registers: r,
  });
  const processes = new Gauge({
    name: 'selective_ksm_partition_processes',
    help: 'Processes bound to the partition on this node.',
    labelNames: partition,
    registers: r,
  });
  const pods = new Gauge({
    name: 'selective_ksm_agent_pods',
    help: 'Pods on this node that the partition merges.',
    labelNames: partition,
    registers: r,
  });
  const known = new Set<string>();

  return {
    registry,
    kernelSupported: new Gauge({
      name: 'selective_ksm_agent_kernel_supported',
      help: '1 if the running kernel has Selective KSM.',
      registers: r,
    }),
    merges: new Counter({
      name: 'selective_ksm_agent_merges_total',
      help: 'Kernel merge calls, by result (success, skipped, error).',
      labelNames: ['partition', 'result'] as const,
      registers: r,
    }),
    errors: new Counter({
      name: 'selective_ksm_agent_errors_total',
      help: 'Merge errors, by reason.',
      labelNames: ['partition', 'reason'] as const,
      registers: r,
    }),
    pagesRequested: new Counter({
      name: 'selective_ksm_agent_pages_requested_total',
      help: 'Pages the agent asked the kernel to merge.',
      labelNames: partition,
      registers: r,
    }),
    mergeDuration: new Histogram({
      name: 'selective_ksm_agent_merge_duration_seconds',
      help: 'Time to merge one container, pacing included.',
      labelNames: partition,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: r,
    }),
    passDuration: new Histogram({
      name: 'selective_ksm_agent_pass_duration_seconds',
      help: 'Time of one full pass over the node.',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: r,
    }),
    budgetWaits: new Counter({
      name: 'selective_ksm_agent_budget_waits_total',
      help: 'Times merging waited for a page budget (node or partition).',
      labelNames: ['budget'] as const,
      registers: r,
    }),
    watchRestarts: new Counter({
      name: 'selective_ksm_agent_watch_restarts_total',
      help: 'Watches restarted, by resource and reason.',
      labelNames: ['resource', 'reason'] as const,
      registers: r,
    }),
    observePartition(name: string, c: PartitionCounters | undefined, podCount: number) {
      known.add(name);
      savedBytes.set({ partition: name }, (c?.pagesSharing ?? 0) * PAGE_SIZE);
      pagesSharing.set({ partition: name }, c?.pagesSharing ?? 0);
      pagesShared.set({ partition: name }, c?.pagesShared ?? 0);
      pagesUnshared.set({ partition: name }, c?.pagesUnshared ?? 0);
      pagesScanned.set({ partition: name }, c?.pagesScanned ?? 0);
      processes.set({ partition: name }, c?.mergedProcesses ?? 0);
      pods.set({ partition: name }, podCount);
    },
    /** Drops the series of partitions this node no longer holds. */
    forgetPartitionsExcept(names: ReadonlySet<string>) {
      for (const name of [...known]) {
        if (names.has(name)) continue;
        for (const g of [
          savedBytes,
          pagesSharing,
          pagesShared,
          pagesUnshared,
          pagesScanned,
          processes,
          pods,
        ]) {
          g.remove({ partition: name });
        }
        known.delete(name);
      }
    },
  };
}
