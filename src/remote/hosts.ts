/**
 * How the manager reaches a host's files: directly when the host is this machine, over SSH
 * otherwise.
 *
 * "This machine" is decided by configuration only — `local: true` — never guessed from the
 * address. Loopback addresses are not a sign of locality: the test lab runs several
 * "hosts" on 127.0.0.11, 127.0.0.12, … each with its own sshd, and an operator may well
 * point the manager at its own sshd on purpose. Likewise an absent `ssh_host` does not mean
 * local: as in MHA, SSH then goes to `hostname`.
 */
import type { FileAccess } from './file-access.js';
import { LocalFileAccess } from './file-access.js';
import { SshFileAccess, type SshFileAccessOptions } from './ssh-file-access.js';
import type { SshConnectOptions, StrictHostKeyChecking } from './ssh-host.js';

/**
 * What is needed to reach one host. Shaped like the configuration loader's SSH target
 * (`ssh_host`/`hostname`, `ssh_ip`, `ssh_port`, `ssh_user`, `ssh_connection_timeout`,
 * `ssh_options`), plus the `local` flag.
 */
export interface HostAccessConfig {
  /** The host is the machine the manager runs on: read its files directly, without SSH. */
  local?: boolean;
  /** SSH host name (`ssh_host`, else `hostname`); known_hosts entries are looked up under it. */
  host: string;
  /** Address to connect to instead of resolving `host` (`ssh_ip`). */
  ip?: string;
  /** Default 22. */
  port?: number;
  /** Default: the current OS user. */
  user?: string;
  /** Bound on connect + handshake + login, seconds. Default 10. */
  connectionTimeoutSec?: number;
  /** From `ssh_options`. */
  options?: {
    identityFiles?: string[];
    /** One file, or several separated by spaces (as OpenSSH's UserKnownHostsFile). */
    userKnownHostsFile?: string;
    /** `ask` cannot be asked by a daemon: it means `yes`. */
    strictHostKeyChecking?: 'yes' | 'no' | 'ask' | 'accept-new';
    serverAliveIntervalSec?: number;
    serverAliveCountMax?: number;
  };
}

/** The ssh2 connection settings for a configured host. */
export function sshConnectOptions(cfg: HostAccessConfig, extra: Partial<SshConnectOptions> = {}): SshConnectOptions {
  const o = cfg.options ?? {};
  const strict: StrictHostKeyChecking =
    o.strictHostKeyChecking === undefined || o.strictHostKeyChecking === 'ask' ? 'yes' : o.strictHostKeyChecking;
  const knownHosts = o.userKnownHostsFile?.split(/\s+/).filter((f) => f !== '');
  const options: SshConnectOptions = {
    host: cfg.host,
    address: cfg.ip,
    port: cfg.port ?? 22,
    user: cfg.user,
    identityFiles: o.identityFiles && o.identityFiles.length > 0 ? o.identityFiles : undefined,
    knownHostsFile: knownHosts && knownHosts.length > 0 ? knownHosts : undefined,
    strictHostKeyChecking: strict,
    connectTimeoutMs: (cfg.connectionTimeoutSec ?? 10) * 1000,
    ...extra,
  };
  if (o.serverAliveIntervalSec !== undefined) {
    options.keepalive =
      o.serverAliveIntervalSec > 0
        ? { intervalMs: o.serverAliveIntervalSec * 1000, countMax: o.serverAliveCountMax ?? 3 }
        : false;
  }
  return options;
}

/**
 * File access for a configured host: LocalFileAccess when `local` is set, otherwise an
 * SshFileAccess that connects on first use (and reconnects after a drop). close() it when
 * done.
 */
export function accessFor(
  cfg: HostAccessConfig,
  opts: SshFileAccessOptions & { ssh?: Partial<SshConnectOptions> } = {},
): FileAccess {
  if (cfg.local) return new LocalFileAccess();
  const { ssh, ...fileOpts } = opts;
  return new SshFileAccess(sshConnectOptions(cfg, ssh), fileOpts);
}

/**
 * One FileAccess per host (user, host, port), shared by everyone who asks, so a failover
 * opens one SSH connection per host; closeAll() at the end.
 */
export class HostAccessPool {
  private readonly byKey = new Map<string, FileAccess>();

  constructor(private readonly defaults: SshFileAccessOptions & { ssh?: Partial<SshConnectOptions> } = {}) {}

  accessFor(cfg: HostAccessConfig): FileAccess {
    const key = cfg.local ? 'local' : `${cfg.user ?? ''}@${cfg.host}:${cfg.port ?? 22}/${cfg.ip ?? ''}`;
    let access = this.byKey.get(key);
    if (!access) {
      access = accessFor(cfg, this.defaults);
      this.byKey.set(key, access);
    }
    return access;
  }

  async closeAll(): Promise<void> {
    const all = [...this.byKey.values()];
    this.byKey.clear();
    await Promise.allSettled(all.map((a) => a.close?.()));
  }
}
