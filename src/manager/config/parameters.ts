/**
 * Every parameter MHA 0.58 accepts in a `.cnf` file (`MHA::Config` `@PARAM_ARRAY`, 42 names),
 * with MHA's scope and default, plus the two mha-ts additions `password_file` and
 * `repl_password_file`.
 *
 * Scopes (MHA wiki "Parameters" terms, reference/mha-behaviour.md §2):
 * - `L`      per-server only: `[serverN]` (and, where `binlog` is true, `[binlogN]`). MHA never
 *            inherits these from `[server default]`; there they are silently ignored by MHA and
 *            rejected by mha-ts.
 * - `L/A/G`  a `[serverN]` value, else the application's `[server default]`, else the global file's.
 * - `A`      the application's `[server default]` (MHA reads it from the first server object).
 *            Accepted in the global file with a warning, since MHA honours it there too.
 * - `A/G`    application or global `[server default]`; one value for the whole application.
 */

export type ParamScope = 'L' | 'L/A/G' | 'A' | 'A/G';
export type ParamType = 'string' | 'int' | 'bool' | 'list' | 'enum';
/** The kinds of block a value can sit in. */
export type BlockKind = 'global-default' | 'app-default' | 'server' | 'binlog';
export type ParamValue = string | number | boolean | readonly string[];

/**
 * What an empty value (`key=`) means, following MHA's code: `unless ($v)` params fall back to
 * MHA's built-in default (`default`); Perl-falsy booleans are 0 (`false`); optional strings
 * become "not set" and stop inheritance (`unset`); the password stays an empty string
 * (`empty`); `ping_interval`/`ping_type` croak (`error`).
 */
export type EmptyValueRule = 'default' | 'false' | 'unset' | 'empty' | 'error';

export interface ParameterSpec {
  readonly name: string;
  readonly scope: ParamScope;
  /** Also valid in a `[binlogN]` block (binlog servers are parsed with the same routine). */
  readonly binlog: boolean;
  readonly type: ParamType;
  /** Integer bounds (inclusive). */
  readonly min?: number;
  readonly max?: number;
  /** Accepted values of an enum, upper- or lower-case as the canonical form. */
  readonly values?: readonly string[];
  /** MHA's default; `undefined` = not set (computed defaults are described by `defaultText`). */
  readonly default: ParamValue | undefined;
  readonly defaultText: string;
  readonly empty: EmptyValueRule;
  /** Holds a secret: never logged, redacted in reports. */
  readonly secret?: boolean;
  /** An mha-ts addition, unknown to MHA 0.58. */
  readonly mhaTs?: boolean;
  readonly description: string;
}

/** Environment variables that supply passwords (precedence: `*_file` param > environment > `.cnf` value). */
export const PASSWORD_ENV = 'MHA_PASSWORD';
export const REPL_PASSWORD_ENV = 'MHA_REPL_PASSWORD';

/** MHA's default global configuration file. */
export const DEFAULT_GLOBAL_CONF = '/etc/masterha_default.cnf';

const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type PingType = 'CONNECT' | 'SELECT' | 'INSERT';

function p(spec: ParameterSpec): ParameterSpec {
  return Object.freeze(spec);
}

export const PARAMETERS: readonly ParameterSpec[] = Object.freeze([
  // --- where the server is
  p({
    name: 'hostname',
    scope: 'L',
    binlog: true,
    type: 'string',
    default: undefined,
    defaultText: '(required)',
    empty: 'unset',
    description: 'Host name or IP address of the MySQL server (or binlog server); required in every block.',
  }),
  p({
    name: 'ip',
    scope: 'L',
    binlog: true,
    type: 'string',
    default: undefined,
    defaultText: 'resolve(hostname)',
    empty: 'unset',
    description: 'IP address used for MySQL connections; resolved from hostname when not set.',
  }),
  p({
    name: 'port',
    scope: 'L/A/G',
    binlog: true,
    type: 'int',
    min: 1,
    max: 65535,
    default: 3306,
    defaultText: '3306',
    empty: 'default',
    description: 'MySQL port of the server.',
  }),
  p({
    name: 'node_label',
    scope: 'L',
    binlog: true,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    description: 'Label printed with the server in topology output.',
  }),
  // --- SSH
  p({
    name: 'ssh_host',
    scope: 'L',
    binlog: true,
    type: 'string',
    default: undefined,
    defaultText: 'hostname',
    empty: 'unset',
    description: 'Host to SSH to, when SSH uses another network than MySQL.',
  }),
  p({
    name: 'ssh_ip',
    scope: 'L',
    binlog: true,
    type: 'string',
    default: undefined,
    defaultText: 'resolve(ssh_host)',
    empty: 'unset',
    description: 'IP address to SSH to (MHA 0.58 computes it and ignores a configured value; mha-ts honours it).',
  }),
  p({
    name: 'ssh_port',
    scope: 'L/A/G',
    binlog: true,
    type: 'int',
    min: 1,
    max: 65535,
    default: 22,
    defaultText: '22',
    empty: 'default',
    description: 'SSH port of the host.',
  }),
  p({
    name: 'ssh_user',
    scope: 'L/A/G',
    binlog: true,
    type: 'string',
    default: undefined,
    defaultText: 'current OS user',
    empty: 'default',
    description: 'OS user for SSH (key authentication).',
  }),
  p({
    name: 'ssh_connection_timeout',
    scope: 'L/A/G',
    binlog: true,
    type: 'int',
    min: 1,
    default: 5,
    defaultText: '5',
    empty: 'default',
    description: 'SSH connect timeout in seconds (positive integer).',
  }),
  p({
    name: 'ssh_options',
    scope: 'L/A/G',
    binlog: true,
    type: 'string',
    default: '',
    defaultText: '""',
    empty: 'default',
    description:
      'Extra OpenSSH options: -i KEY, -p PORT, -l USER, -o IdentityFile=, UserKnownHostsFile=, StrictHostKeyChecking=, ConnectTimeout=, ...',
  }),
  // --- MySQL accounts
  p({
    name: 'user',
    scope: 'L/A/G',
    binlog: false,
    type: 'string',
    default: 'root',
    defaultText: 'root',
    empty: 'default',
    description: 'MySQL administrative user.',
  }),
  p({
    name: 'password',
    scope: 'L/A/G',
    binlog: false,
    type: 'string',
    default: '',
    defaultText: '""',
    empty: 'empty',
    secret: true,
    description: `Password of "user". Prefer password_file (mode 0600) or ${PASSWORD_ENV}.`,
  }),
  p({
    name: 'password_file',
    scope: 'L/A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    mhaTs: true,
    description: `File (mode 0600) holding the password of "user"; wins over ${PASSWORD_ENV} and password=.`,
  }),
  p({
    name: 'repl_user',
    scope: 'L/A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: "new master's Master_User",
    empty: 'unset',
    description: 'Replication user for CHANGE MASTER TO.',
  }),
  p({
    name: 'repl_password',
    scope: 'L/A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(not set: CHANGE MASTER omits MASTER_PASSWORD)',
    empty: 'empty',
    secret: true,
    description: `Password of repl_user. Prefer repl_password_file (mode 0600) or ${REPL_PASSWORD_ENV}.`,
  }),
  p({
    name: 'repl_password_file',
    scope: 'L/A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    mhaTs: true,
    description: `File (mode 0600) holding repl_password; wins over ${REPL_PASSWORD_ENV} and repl_password=.`,
  }),
  // --- per-server roles
  p({
    name: 'candidate_master',
    scope: 'L',
    binlog: false,
    type: 'bool',
    default: false,
    defaultText: '0',
    empty: 'false',
    description: 'Prefer this server as the new master (config order among candidates).',
  }),
  p({
    name: 'no_master',
    scope: 'L',
    binlog: false,
    type: 'bool',
    default: false,
    defaultText: '0',
    empty: 'false',
    description: 'Never promote this server.',
  }),
  p({
    name: 'ignore_fail',
    scope: 'L',
    binlog: false,
    type: 'bool',
    default: false,
    defaultText: '0',
    empty: 'false',
    description: 'Fail over even if this slave is dead or broken.',
  }),
  p({
    name: 'skip_init_ssh_check',
    scope: 'L',
    binlog: false,
    type: 'bool',
    default: false,
    defaultText: '0',
    empty: 'false',
    description: 'Leave this server out of the SSH check at startup.',
  }),
  p({
    name: 'skip_reset_slave',
    scope: 'L/A/G',
    binlog: false,
    type: 'bool',
    default: false,
    defaultText: '0',
    empty: 'false',
    description: 'Do not RESET SLAVE ALL on the new master after failover.',
  }),
  // --- log handling on the nodes
  p({
    name: 'disable_log_bin',
    scope: 'L/A/G',
    binlog: false,
    type: 'bool',
    default: false,
    defaultText: '0',
    empty: 'false',
    description: 'Apply differential logs without writing them to the binary log.',
  }),
  p({
    name: 'handle_raw_binlog',
    scope: 'L/A/G',
    binlog: false,
    type: 'bool',
    default: true,
    defaultText: '1',
    empty: 'false',
    description: 'Handle binlog/relay-log diffs as raw binlog files (0 = mysqlbinlog text).',
  }),
  p({
    name: 'master_pid_file',
    scope: 'L/A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '""',
    empty: 'unset',
    description: "Master's pid file, passed to shutdown_script as --pid_file.",
  }),
  p({
    name: 'remote_workdir',
    scope: 'L/A/G',
    binlog: true,
    type: 'string',
    default: '/var/tmp',
    defaultText: '/var/tmp',
    empty: 'default',
    description: 'Working directory on the database hosts (diff and saved binlog files).',
  }),
  p({
    name: 'master_binlog_dir',
    scope: 'L/A/G',
    binlog: true,
    type: 'list',
    default: Object.freeze(['/var/lib/mysql', '/var/log/mysql']),
    defaultText: '/var/lib/mysql,/var/log/mysql',
    empty: 'default',
    description: "Comma-separated directories holding the master's binary logs (whitespace removed).",
  }),
  p({
    name: 'client_bindir',
    scope: 'L/A/G',
    binlog: true,
    type: 'string',
    default: undefined,
    defaultText: '(PATH)',
    empty: 'unset',
    description: 'Directory of the mysql/mysqlbinlog client programs on the hosts.',
  }),
  p({
    name: 'client_libdir',
    scope: 'L/A/G',
    binlog: true,
    type: 'string',
    default: undefined,
    defaultText: '(system)',
    empty: 'unset',
    description: 'Directory of the MySQL client libraries (LD_LIBRARY_PATH).',
  }),
  p({
    name: 'use_gtid_auto_pos',
    scope: 'L/A/G',
    binlog: false,
    type: 'bool',
    default: true,
    defaultText: '1',
    empty: 'false',
    description: 'Use MASTER_AUTO_POSITION=1 when every server runs with GTIDs.',
  }),
  // --- manager (application) settings
  p({
    name: 'manager_workdir',
    scope: 'A',
    binlog: false,
    type: 'string',
    default: '/var/tmp',
    defaultText: '/var/tmp',
    empty: 'default',
    description: 'Manager working directory: status file, failover flag files, saved binlogs.',
  }),
  p({
    name: 'manager_log',
    scope: 'A',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: 'STDERR',
    empty: 'unset',
    description: 'Manager log file (appended).',
  }),
  p({
    name: 'log_level',
    scope: 'A/G',
    binlog: false,
    type: 'enum',
    values: LOG_LEVELS,
    default: 'info',
    defaultText: 'info',
    empty: 'default',
    description: 'Log threshold: debug, info, notice, warning, error, critical, alert, emergency.',
  }),
  p({
    name: 'check_repl_delay',
    scope: 'A/G',
    binlog: false,
    type: 'bool',
    default: true,
    defaultText: '1',
    empty: 'false',
    description: 'Exclude slaves far behind (100 MB of relay log / another file) from new-master election.',
  }),
  p({
    name: 'check_repl_filter',
    scope: 'A/G',
    binlog: false,
    type: 'bool',
    default: true,
    defaultText: '1',
    empty: 'false',
    description: 'Require identical binlog/replication filter rules on all servers.',
  }),
  p({
    name: 'latest_priority',
    scope: 'A/G',
    binlog: false,
    type: 'bool',
    default: true,
    defaultText: '1',
    empty: 'false',
    description: 'Prefer the slaves that received the latest events (0 = strict config order).',
  }),
  p({
    name: 'multi_tier_slave',
    scope: 'A/G',
    binlog: false,
    type: 'bool',
    default: false,
    defaultText: '0',
    empty: 'false',
    description: 'Allow servers replicating from a non-master (they are left unmanaged).',
  }),
  // --- health check
  p({
    name: 'ping_interval',
    scope: 'A/G',
    binlog: false,
    type: 'int',
    min: 1,
    default: 3,
    defaultText: '3',
    empty: 'error',
    description: 'Seconds between master health checks (positive integer).',
  }),
  p({
    name: 'ping_type',
    scope: 'A/G',
    binlog: false,
    type: 'enum',
    values: ['CONNECT', 'SELECT', 'INSERT'],
    default: 'SELECT',
    defaultText: 'SELECT',
    empty: 'error',
    description: 'Health check method: CONNECT, SELECT or INSERT (case-insensitive).',
  }),
  // --- hooks
  p({
    name: 'secondary_check_script',
    scope: 'A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    description: 'Command that checks the master from other hosts (e.g. masterha_secondary_check -s h1 -s h2).',
  }),
  p({
    name: 'master_ip_failover_script',
    scope: 'A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    description: 'VIP/DNS/catalog switch run during failover.',
  }),
  p({
    name: 'master_ip_online_change_script',
    scope: 'A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    description: 'VIP/DNS/catalog switch run during an online switch.',
  }),
  p({
    name: 'shutdown_script',
    scope: 'A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    description: 'Fencing (power off / STONITH) of the dead master.',
  }),
  p({
    name: 'report_script',
    scope: 'A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    description: 'Notification run after a failover.',
  }),
  p({
    name: 'init_conf_load_script',
    scope: 'A/G',
    binlog: false,
    type: 'string',
    default: undefined,
    defaultText: '(none)',
    empty: 'unset',
    description: 'Command run while reading the configuration; its name=value lines override application defaults.',
  }),
  // --- manager high availability (mha-ts): several managers, one leader per application in etcd
  p({
    name: 'etcd_endpoints',
    scope: 'A/G',
    binlog: false,
    type: 'list',
    default: undefined,
    defaultText: '(none: this manager acts alone)',
    empty: 'unset',
    mhaTs: true,
    description:
      'Comma-separated etcd endpoints (host:port or http://host:port); when set, managers elect one leader per application and fence every action.',
  }),
  p({
    name: 'etcd_prefix',
    scope: 'A/G',
    binlog: false,
    type: 'string',
    default: '/mha',
    defaultText: '/mha',
    empty: 'default',
    mhaTs: true,
    description: 'Key prefix in etcd: leadership, failover guard, progress and reports live under <prefix>/<app>/.',
  }),
  p({
    name: 'manager_lease_ttl',
    scope: 'A/G',
    binlog: false,
    type: 'int',
    min: 2,
    max: 300,
    default: 5,
    defaultText: '5',
    empty: 'default',
    mhaTs: true,
    description: 'Seconds a manager leads without renewing its etcd lease; another takes over this long after it dies.',
  }),
]);

export const PARAMETER_BY_NAME: ReadonlyMap<string, ParameterSpec> = new Map(PARAMETERS.map((s) => [s.name, s]));

/** The 42 names MHA 0.58 knows, in `MHA::Config` order. */
export const MHA_PARAMETER_NAMES: readonly string[] = PARAMETERS.filter((s) => !s.mhaTs).map((s) => s.name);

/** Whether `spec` may be written in a block of this kind. 'A' params in the global file are allowed (with a warning). */
export function isAllowedIn(spec: ParameterSpec, kind: BlockKind): boolean {
  switch (kind) {
    case 'server':
      return spec.scope === 'L' || spec.scope === 'L/A/G';
    case 'binlog':
      return spec.binlog;
    case 'app-default':
      return spec.scope !== 'L';
    case 'global-default':
      return spec.scope !== 'L';
  }
}

/** Where a parameter belongs, in words, for error messages. */
export function describeScope(spec: ParameterSpec): string {
  switch (spec.scope) {
    case 'L':
      return spec.binlog
        ? 'it is a per-server parameter: set it in a [serverN] or [binlogN] block'
        : 'it is a per-server parameter: set it in a [serverN] block';
    case 'L/A/G':
      return spec.binlog
        ? 'it may be set in [server default], [serverN] or [binlogN]'
        : 'it may be set in [server default] or [serverN], not in [binlogN]';
    case 'A':
      return "it is an application setting: set it in the application file's [server default]";
    case 'A/G':
      return 'it is an application setting: set it in [server default]';
  }
}

/** Edit distance (insert, delete, substitute, adjacent transposition). */
export function levenshtein(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  if (m === 0) return n;
  if (n === 0) return m;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  let cur = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2] + 1);
      cur[j] = v;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n];
}

/** The known parameter an unknown name most likely meant, if any is close enough. */
export function suggestParameter(name: string): string | undefined {
  const wanted = name
    .trim()
    .toLowerCase()
    .replace(/[-\s]+/g, '_');
  if (PARAMETER_BY_NAME.has(wanted)) return wanted;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const spec of PARAMETERS) {
    const d = levenshtein(wanted, spec.name);
    if (d < bestDistance) {
      bestDistance = d;
      best = spec.name;
    }
  }
  const limit = Math.max(2, Math.floor(wanted.length / 4));
  if (best !== undefined && bestDistance <= limit) return best;
  // A clear prefix ("repl_pass" → repl_password) is a good hint too.
  if (wanted.length >= 4) {
    const byPrefix = PARAMETERS.filter((s) => s.name.startsWith(wanted)).sort((a, b) => a.name.length - b.name.length);
    if (byPrefix.length > 0) return byPrefix[0].name;
  }
  return undefined;
}
