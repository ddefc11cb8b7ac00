export { type DaemonHaOptions, daemonHa } from './daemon-ha.js';
export {
  EtcdCoordinator,
  type EtcdCoordinatorOptions,
  type LeaderInfo,
  Leadership,
  normalizeEndpoint,
} from './etcd-coordinator.js';
export { clearFailoverGuard, EtcdFailoverState, lastFailoverReport } from './etcd-failover-state.js';
export { etcdEndpointsOf, type HaManagerOptions, type LeadershipEvent, runManagerHa } from './ha-manager.js';
