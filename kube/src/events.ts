import { createHash } from 'node:crypto';
import type { Logger } from './log.ts';
import { KubeError, type Rest } from './rest.ts';

// Kubernetes Events (core/v1) for things a person should see in
// `kubectl describe`. Each event has a name derived from what it says, so
// sending the same event again (a restart, another replica) is a no-op.

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export interface EventSpec {
  object: InvolvedObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** Distinguishes occurrences that must each be shown (e.g. a generation). */
  occurrence?: string;
}

export class EventRecorder {
  private readonly rest: Rest;
  private readonly component: string;
  private readonly log: Logger;

  constructor(rest: Rest, component: string, log: Logger) {
    this.rest = rest;
    this.component = component;
    this.log = log;
  }

  async record(e: EventSpec): Promise<void> {
    const namespace = e.object.namespace || 'default';
    const digest = createHash('sha256')
      .update([e.object.uid ?? e.object.name, e.reason, e.message, e.occurrence ?? ''].join('\0'))
      .digest('hex')
      .slice(0, 16);
    const now = new Date().toISOString();
    try {
      await this.rest.create(`/api/v1/namespaces/${namespace}/events`, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${e.object.name}.${digest}`, namespace },
        involvedObject: e.object,
        type: e.type,
        reason: e.reason,
        message: e.message,
        source: { component: this.component },
        reportingComponent: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (err) {
      if (err instanceof KubeError && err.status === 409) return;
      // Events are for people; failing to send one must not fail the work.
      this.log.warn('could not record an event', {
        reason: e.reason,
        error: (err as Error).message,
      });
    }
  }
}
