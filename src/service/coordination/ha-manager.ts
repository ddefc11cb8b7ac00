import { loadConfig } from '../../manager/config/index.js';
import { fileFailoverState } from '../../manager/failover-state.js';
import { ManagerLog } from '../../manager/log.js';
import { type ManagerOptions, runManager } from '../../manager/manager.js';
import { EtcdCoordinator } from './etcd-coordinator.js';
import { EtcdFailoverState } from './etcd-failover-state.js';

export interface LeadershipEvent {
  app: string;
  leading: boolean;
  identity: string;
  lease?: string;
  token?: string;
  /** Why leadership ended. */
  reason?: string;
}

export interface HaManagerOptions extends ManagerOptions {
  /** etcd endpoints; wins over the configuration's etcd_endpoints. */
  etcdEndpoints?: readonly string[];
  /** A coordinator shared by several applications (the daemon); else one is made and closed here. */
  coordinator?: EtcdCoordinator;
  /** Leadership gained or lost (status API, metrics). */
  onLeadership?: (event: LeadershipEvent) => void;
}

/** The etcd endpoints an application's manager must coordinate on, if any. */
export function etcdEndpointsOf(opts: HaManagerOptions): readonly string[] | undefined {
  if (opts.etcdEndpoints && opts.etcdEndpoints.length > 0) return opts.etcdEndpoints;
  const config = loadConfig({ appFile: opts.confFile, globalFile: opts.globalConf });
  const e = config.app.etcdEndpoints;
  return e && e.length > 0 ? e : undefined;
}

/**
 * masterha_manager with manager HA: when etcd is configured, this manager first becomes the
 * application's leader, then monitors and fails over while it leads — every action fenced
 * by its lease and token, the failover records kept in etcd — and when it loses the lead
 * it stops at once and campaigns again. A manager that takes over while a failover's
 * progress is recorded resumes that failover (runDeadMasterFailover reads the progress).
 * Without etcd it is runManager, unchanged.
 */
export async function runManagerHa(opts: HaManagerOptions): Promise<number> {
  const endpoints = opts.coordinator ? undefined : etcdEndpointsOf(opts);
  if (!opts.coordinator && !endpoints) return runManager(opts);
  const config = loadConfig({ appFile: opts.confFile, globalFile: opts.globalConf });
  const app = config.app.name;
  const log = new ManagerLog(config.app.managerLog, config.app.logLevel === 'debug' ? 'debug' : 'info', opts.echo);
  const coordinator =
    opts.coordinator ??
    new EtcdCoordinator({
      endpoints: endpoints ?? [],
      prefix: config.app.etcdPrefix,
      ttlSec: config.app.managerLeaseTtl,
      onEvent: (msg) => log.warning(msg),
    });
  const localReports = fileFailoverState(config.app.managerWorkdir, app);
  try {
    for (;;) {
      if (opts.signal?.aborted) return 0;
      log.info(
        `Manager HA: waiting to lead ${app} (etcd key ${coordinator.key(app, 'leader')}, lease TTL ${coordinator.ttlSec} s, as ${coordinator.identity}).`,
      );
      let lead: Awaited<ReturnType<EtcdCoordinator['campaign']>>;
      try {
        lead = await coordinator.campaign(app, opts.signal);
      } catch (err) {
        if (opts.signal?.aborted) {
          log.info('Got terminate signal while waiting to lead. Exit.');
          return 0;
        }
        throw err;
      }
      log.info(`Manager HA: leading ${app} with lease ${lead.lease}, fencing token ${lead.token}.`);
      opts.onLeadership?.({ app, leading: true, identity: coordinator.identity, lease: lead.lease, token: lead.token });
      const signal = opts.signal ? AbortSignal.any([opts.signal, lead.signal]) : lead.signal;
      let code: number;
      let lostReason: string | undefined;
      try {
        code = await runManager({
          ...opts,
          signal,
          state: new EtcdFailoverState(lead, (report) => localReports.saveReport(report)),
          fence: lead.fence,
        });
        if (code !== 0 && !lead.lost && !opts.signal?.aborted) {
          // An error may only mean that etcd went away under us (a record could not be read
          // or written): then this is a lost lead, not a reason to stop managing.
          const l = lead;
          await l.fence('go on leading after the manager stopped').catch(async () => {
            // etcd unreachable: unless it answers again, the lease runs out by itself.
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, Math.max(0, l.remainingMs()) + 300);
              l.signal.addEventListener(
                'abort',
                () => {
                  clearTimeout(t);
                  resolve();
                },
                { once: true },
              );
            });
          });
        }
      } finally {
        // Read before resign(), which would call it 'resigned'.
        lostReason = lead.lost;
        await lead.resign();
        opts.onLeadership?.({
          app,
          leading: false,
          identity: coordinator.identity,
          lease: lead.lease,
          token: lead.token,
          reason: lostReason ?? 'manager stopped',
        });
        if (lostReason && !opts.signal?.aborted) {
          log.warning(`Manager HA: lost the lead of ${app} (${lostReason}); stopped acting. Campaigning again.`);
        }
      }
      if (opts.signal?.aborted) return code;
      if (lostReason) continue;
      return code;
    }
  } finally {
    if (!opts.coordinator) coordinator.close();
  }
}
