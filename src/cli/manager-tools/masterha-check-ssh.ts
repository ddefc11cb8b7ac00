/**
 * `masterha_check_ssh` / `mha check-ssh`: can the manager reach every configured host over
 * SSH with the settings it will use in a failover?
 *
 * MHA checks a full server→server mesh because its node tools copy files between hosts.
 * mha-ts's manager reads every host's logs itself, so what a failover needs is
 * manager→every host: that is what is checked (each connection is opened with the host's
 * ssh_* settings and runs `exit 0`). `--mesh` adds MHA's server→server test, running the
 * system `ssh` on each source host in BatchMode. Unlike MHA (manager#152), success exits 0.
 */
import { hostname, userInfo } from 'node:os';
import { type Config, loadConfig, type ServerConfig } from '../../manager/config/index.js';
import { ManagerLog } from '../../manager/log.js';
import { hostAccessConfig } from '../../manager/manager.js';
import { sshConnectOptions } from '../../remote/hosts.js';
import { SshHost, shQuote } from '../../remote/ssh-host.js';
import { bool, type OptionSpec, renderHelp, runMhaTool, str, type ToolIO } from '../node-tools/options.js';

export const CHECK_SSH_SPECS: OptionSpec[] = [
  { name: 'conf', kind: 'string', value: 'FILE', help: 'application configuration (app1.cnf); required' },
  { name: 'global_conf', kind: 'string', value: 'FILE', help: 'global defaults', default: '/etc/masterha_default.cnf' },
  {
    name: 'mesh',
    kind: 'flag',
    help: "also test server→server SSH (MHA's full mesh) with the system ssh on each host, in BatchMode",
  },
];

/** `root@db1(10.0.0.1:22)`, MHA's way of naming an SSH endpoint. */
export function sshEndpoint(s: ServerConfig): string {
  return `${s.ssh.user}@${s.ssh.host}(${s.ssh.ip ?? s.ssh.host}:${s.ssh.port})`;
}

export interface SshCheckOptions {
  /** Also test server→server SSH with the system ssh client on each source host. */
  mesh?: boolean;
  /** Hosts checked at a time (sshd accepts ~10 concurrent authentications by default). */
  concurrency?: number;
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}

function reason(err: unknown): string {
  return (err as Error).message ?? String(err);
}

/**
 * Test SSH from the manager to every server (and with `mesh`, between servers). Logs MHA's
 * lines: per connection ` Connecting via SSH from A to B..` and `  ok.` (debug), an error
 * per failure, and `All SSH connection tests passed successfully.` at the end. Returns
 * true when every test passed; the caller reports `SSH Configuration Check Failed!`.
 */
export async function checkSshConnections(
  servers: ServerConfig[],
  log: ManagerLog,
  opts: SshCheckOptions = {},
): Promise<boolean> {
  const targets = servers.filter((s) => !s.skipInitSshCheck);
  for (const s of servers.filter((x) => x.skipInitSshCheck)) {
    log.info(`Skipping SSH check on ${sshEndpoint(s)} (skip_init_ssh_check is set).`);
  }
  log.info('Starting SSH connection tests..');
  const manager = `${safeUser()}@${hostname()}(manager)`;
  const results = await mapLimited(targets, opts.concurrency ?? 8, async (src) => {
    const lines: Array<{ level: 'debug' | 'error'; msg: string }> = [];
    let ok = true;
    let host: SshHost | undefined;
    lines.push({ level: 'debug', msg: ` Connecting via SSH from ${manager} to ${sshEndpoint(src)}..` });
    try {
      host = await SshHost.connect(sshConnectOptions(hostAccessConfig(src)));
      const r = await host.exec('exit 0', { timeoutMs: src.ssh.connectionTimeoutSec * 1000 + 10_000 });
      if (r.code !== 0) throw new Error(`\`exit 0\` returned ${r.code}${r.stderr ? `: ${r.stderr.trim()}` : ''}`);
      lines.push({ level: 'debug', msg: '  ok.' });
    } catch (err) {
      ok = false;
      lines.push({
        level: 'error',
        msg: `SSH connection from ${manager} to ${sshEndpoint(src)} failed! ${reason(err)}`,
      });
    }
    if (ok && host && opts.mesh) {
      for (const dst of targets) {
        if (dst === src) continue;
        lines.push({
          level: 'debug',
          msg: ` Connecting via SSH from ${sshEndpoint(src)} to ${sshEndpoint(dst)}..`,
        });
        // MHA's SSH_OPT_CHECK plus the destination's ssh_options as written (paths in them
        // are paths on the source host, as with MHA).
        const command = [
          'ssh',
          '-o BatchMode=yes',
          '-o PasswordAuthentication=no',
          `-o ConnectTimeout=${dst.ssh.connectionTimeoutSec}`,
          dst.ssh.optionsText,
          `-p ${dst.ssh.port}`,
          shQuote(`${dst.ssh.user}@${dst.ssh.ip ?? dst.ssh.host}`),
          'exit 0',
        ]
          .filter((w) => w !== '')
          .join(' ');
        try {
          const r = await host.exec(command, { timeoutMs: dst.ssh.connectionTimeoutSec * 1000 + 10_000 });
          if (r.code !== 0) {
            throw new Error(`ssh exited with ${r.code ?? r.signal}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`);
          }
          lines.push({ level: 'debug', msg: '  ok.' });
        } catch (err) {
          ok = false;
          lines.push({
            level: 'error',
            msg: `SSH connection from ${sshEndpoint(src)} to ${sshEndpoint(dst)} failed! ${reason(err)}`,
          });
        }
      }
    }
    await host?.close().catch(() => {});
    return { ok, lines };
  });
  let failed = false;
  for (const r of results) {
    for (const l of r.lines) log.log(l.level, l.msg);
    if (!r.ok) failed = true;
  }
  if (failed) return false;
  log.info('All SSH connection tests passed successfully.');
  return true;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'manager');
  }
}

/** The tool, for both spellings. Log lines go to stderr, as MHA's. */
export async function checkSshTool(
  o: { conf?: string; globalConf?: string; mesh?: boolean },
  io: ToolIO,
): Promise<number> {
  if (!o.conf) {
    io.out('--conf=<server_config_file> must be set.');
    return 1;
  }
  let config: Config;
  const log = new ManagerLog(undefined, 'debug');
  try {
    config = loadConfig({ appFile: o.conf, globalFile: o.globalConf });
  } catch (err) {
    log.error(reason(err));
    log.error('SSH Configuration Check Failed!');
    return 1;
  }
  for (const w of config.warnings) log.warning(w.message);
  const ok = await checkSshConnections(config.servers, log, { mesh: o.mesh });
  if (!ok) {
    log.error('SSH Configuration Check Failed!');
    return 1;
  }
  return 0;
}

export async function masterhaCheckSshMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: 'masterha_check_ssh',
    argv,
    specs: CHECK_SSH_SPECS,
    io,
    help: () =>
      renderHelp({
        synopsis: 'masterha_check_ssh --conf=FILE [--global_conf=FILE] [--mesh]',
        description:
          "Checks that the manager can open an SSH session, with each server block's ssh_* settings and ssh_options, " +
          'to every configured host and run a command there (what a failover needs: mha-ts reads binlogs and relay logs ' +
          'over SSH itself). --mesh also tests SSH from every host to every other one, as MHA does. ' +
          'Servers with skip_init_ssh_check=1 are skipped. Log lines go to stderr.',
        specs: CHECK_SSH_SPECS,
        exitCodes: [
          [0, 'All SSH connection tests passed successfully.'],
          [1, 'SSH Configuration Check Failed! (or a configuration error)'],
        ],
      }),
    run: async (opts, _given, tio) =>
      checkSshTool({ conf: str(opts, 'conf'), globalConf: str(opts, 'global_conf'), mesh: bool(opts, 'mesh') }, tio),
  });
}
