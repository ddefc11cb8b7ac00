import { type Config, loadConfig } from '../../manager/config/index.js';
import { FailoverGuard } from '../../manager/failover-guard.js';
import type { ManagerOptions } from '../../manager/manager.js';
import { EtcdCoordinator } from './etcd-coordinator.js';
import { clearFailoverGuard } from './etcd-failover-state.js';
import { type LeadershipEvent, runManagerHa } from './ha-manager.js';

export interface DaemonHaOptions {
  /** `--etcd`: endpoints for every cluster, winning over each file's etcd_endpoints. */
  etcdEndpoints?: readonly string[];
  onEvent?: (msg: string) => void;
  onLeadership?: (event: LeadershipEvent) => void;
}

/**
 * Manager HA for the daemon (`mha manager --config-dir`): the supervisor's `run` and
 * `guardFor`. A cluster whose configuration (or `--etcd`) names etcd runs under
 * leadership; the others run as before. Clusters on the same etcd (endpoints, prefix, TTL)
 * share one client.
 */
export function daemonHa(opts: DaemonHaOptions = {}) {
  const coordinators = new Map<string, EtcdCoordinator>();
  const coordinatorFor = (config: Config): EtcdCoordinator | undefined => {
    const endpoints = opts.etcdEndpoints?.length ? opts.etcdEndpoints : config.app.etcdEndpoints;
    if (!endpoints || endpoints.length === 0) return undefined;
    const key = JSON.stringify([endpoints, config.app.etcdPrefix, config.app.managerLeaseTtl]);
    let c = coordinators.get(key);
    if (!c) {
      c = new EtcdCoordinator({
        endpoints,
        prefix: config.app.etcdPrefix,
        ttlSec: config.app.managerLeaseTtl,
        onEvent: opts.onEvent,
      });
      coordinators.set(key, c);
    }
    return c;
  };
  return {
    run: async (m: ManagerOptions): Promise<number> => {
      const config = loadConfig({ appFile: m.confFile, globalFile: m.globalConf });
      const coordinator = coordinatorFor(config);
      return runManagerHa({ ...m, coordinator, onLeadership: opts.onLeadership });
    },
    guardFor: (config: Config): { clear(): Promise<void>; files?: string[] } => {
      const coordinator = coordinatorFor(config);
      if (coordinator) {
        return {
          clear: () => clearFailoverGuard(coordinator, config.app.name),
          files: [],
        };
      }
      const files = new FailoverGuard(config.app.managerWorkdir, config.app.name);
      return { clear: () => files.clear(), files: [files.errorFile, files.completeFile] };
    },
    close(): void {
      for (const c of coordinators.values()) c.close();
      coordinators.clear();
    },
  };
}
