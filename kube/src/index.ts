export { backoffDelay, sleep } from './backoff.ts';
export { EventRecorder, type EventSpec, type InvolvedObject } from './events.ts';
export {
  configOrExit,
  type FlagSpec,
  type Flags,
  type Parsed,
  parseFlags,
  usageText,
} from './flags.ts';
export { type Connection, loadConnection } from './kubeconfig.ts';
export { LeaderElector, type LeaseOptions } from './lease.ts';
export { createLogger, type Fields, type Level, type Logger } from './log.ts';
export { WorkQueue } from './queue.ts';
export type { PolicyRule } from './rbac.ts';
export { type Change, objectKey, Reflector, type ReflectorOptions } from './reflector.ts';
export { KubeError, METADATA_ONLY, PATCH, Rest } from './rest.ts';
export { type Probes, parseListenAddress, serveEndpoints } from './serve.ts';
