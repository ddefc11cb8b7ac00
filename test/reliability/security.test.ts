/**
 * Security review (issue 9, part 5): no password in process arguments, logs, reports or
 * state files; state files 0600 in a 0700 workdir; a readable configuration named in a
 * warning; SSH host keys verified; names and passwords with quotes, backslashes and
 * backticks never change a statement; hooks run without a shell.
 *
 * Addresses 127.0.0.161–163 (the cluster) and .165 (sshd alone): no other suite uses them.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BinlogEvent, EventType } from '@mha-ts/native-free-parsers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdentifier, quoteString, SqlRenderer } from '../../src/engine/sql-renderer.js';
import { ConfigError, loadConfig } from '../../src/manager/config/index.js';
import type { FailoverReport } from '../../src/manager/failover.js';
import { HookCommandError, parseHookCommand } from '../../src/manager/hook-command.js';
import { runHook } from '../../src/manager/hooks.js';
import { ManagerLog } from '../../src/manager/log.js';
import { hostAccessConfig, runManager } from '../../src/manager/manager.js';
import {
  changeSourceStatement,
  gtidWaitStatement,
  positionWaitStatement,
  sqlString,
} from '../../src/mysql/replication-sql.js';
import { ServerConnection } from '../../src/mysql/server-connection.js';
import { parseServerVersion, replicationDialect } from '../../src/mysql/server-version.js';
import { accessFor } from '../../src/remote/hosts.js';
import { hostKeyFingerprint, RemoteError } from '../../src/remote/ssh-host.js';
import { type ClusterLab, startCluster } from '../lab/cluster-lab.js';
import { LOAD_DDL, LoadGenerator } from '../lab/load-generator.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { type SshdLab, sshdAvailable, startSshd } from '../lab/sshd-lab.js';

const scratch = mkdtempSync(join(tmpdir(), 'mha-security-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A file a shell would create if it ever ran a string it was given as data. */
const pwned = (tag: string) => join(scratch, `pwned-${tag}`);

/** A hook that records its argv, one argument per line, and stays alive long enough to be seen in /proc. */
function recordingScript(name: string, exitCode = 0, sleepSec = 0): { path: string; calls: string } {
  const path = join(scratch, name);
  const calls = join(scratch, `${name}.calls`);
  writeFileSync(
    path,
    `#!/bin/sh\n{ for a in "$@"; do printf '%s\\n' "$a"; done; echo ---; } >> '${calls}'\n` +
      `${sleepSec ? `sleep ${sleepSec}\n` : ''}exit ${exitCode}\n`,
    { mode: 0o755 },
  );
  return { path, calls };
}

describe('hook command lines are split without a shell', () => {
  it('words, quotes, escapes, comments, NAME=value and ~', () => {
    expect(parseHookCommand('/usr/local/bin/x --vip=1.2.3.4').argv).toEqual(['/usr/local/bin/x', '--vip=1.2.3.4']);
    expect(parseHookCommand(`/x 'a b' "c \\"d\\" \\\\e" f\\ g '' '$'`).argv).toEqual([
      '/x',
      'a b',
      'c "d" \\e',
      'f g',
      '',
      '$',
    ]);
    // MHA runs the line through sh, where `# …` is a comment: the arguments still follow the command.
    expect(parseHookCommand('/usr/local/bin/power-off-host   # your fencing: IPMI, cloud API').argv).toEqual([
      '/usr/local/bin/power-off-host',
    ]);
    expect(parseHookCommand('/x a#b').argv).toEqual(['/x', 'a#b']);
    expect(parseHookCommand('LANG=C TZ=UTC /x --y=1')).toEqual({
      argv: ['/x', '--y=1'],
      env: { LANG: 'C', TZ: 'UTC' },
    });
    expect(parseHookCommand("'A=1' /x").argv).toEqual(['A=1', '/x']);
    expect(parseHookCommand('~/bin/x ~ a~', { homeDir: '/home/mha' }).argv).toEqual([
      '/home/mha/bin/x',
      '/home/mha',
      'a~',
    ]);
    expect(parseHookCommand("'~/x'", { homeDir: '/home/mha' }).argv).toEqual(['~/x']);
  });

  it('refuses what only a shell could do, saying which character and how to pass it literally', () => {
    for (const [line, what] of [
      ['/x | logger', 'a pipe'],
      ['/x; rm -rf /', 'a command list'],
      ['/x && /y', 'a background or && list'],
      ['/x &', 'a background or && list'],
      ['/x --home=$HOME', 'an expansion'],
      ['/x "$(id)"', 'an expansion'],
      ['/x `id`', 'a command substitution'],
      ['/x "`id`"', 'a command substitution'],
      ['/x > /tmp/out', 'a redirection'],
      ['/x < /etc/passwd', 'a redirection'],
    ] as const) {
      expect(() => parseHookCommand(line), line).toThrow(HookCommandError);
      expect(() => parseHookCommand(line), line).toThrow(new RegExp(`is ${what}, which needs a shell`));
    }
    expect(() => parseHookCommand("/x 'open")).toThrow(/unterminated single quote/);
    expect(() => parseHookCommand('/x "open')).toThrow(/unterminated double quote/);
    expect(() => parseHookCommand('   # only a comment')).toThrow(/no program to run/);
    // Quoted or escaped, the same characters are plain data.
    expect(parseHookCommand(`/x '|;&$\`<>' \\; \\$HOME "a;b|c"`).argv).toEqual([
      '/x',
      '|;&$`<>',
      ';',
      '$HOME',
      'a;b|c',
    ]);
  });

  it('a configuration whose hook needs a shell is refused, naming the parameter and where it is', () => {
    const dir = mkdtempSync(join(scratch, 'cnf-'));
    const file = join(dir, 'app1.cnf');
    writeFileSync(
      file,
      [
        '[server default]',
        'user=mha',
        `manager_workdir=${dir}`,
        'master_ip_failover_script=/usr/local/bin/master_ip_failover --vip=10.0.0.5 | logger',
        'shutdown_script=/usr/local/bin/power-off-host   # IPMI',
        "report_script=/usr/local/bin/send_report --to='ops;oncall' --quiet",
        "master_ip_online_change_script=/usr/local/bin/online --to='ops'",
        'secondary_check_script=masterha_secondary_check -s r1 -s r2 > /dev/null',
        '[server1]',
        'hostname=h1',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    let err: ConfigError | undefined;
    try {
      loadConfig({ appFile: file, globalFile: null });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issues = err!.issues.map((i) => ({ key: i.key, line: i.line, message: i.message }));
    expect(issues).toHaveLength(3);
    expect(issues).toContainEqual({
      key: 'master_ip_failover_script',
      line: 4,
      message: expect.stringMatching(/^"\|" at character \d+ is a pipe, which needs a shell/),
    });
    expect(issues).toContainEqual({
      key: 'master_ip_online_change_script',
      line: 7,
      message: expect.stringMatching(/^unterminated single quote .* end the line with an unquoted word\)$/),
    });
    expect(issues).toContainEqual({
      key: 'secondary_check_script',
      line: 8,
      message: expect.stringMatching(/^">" at character \d+ is a redirection/),
    });
  });

  it('a configuration holding a password that others may read: accepted with a warning naming the file and its mode', () => {
    const dir = mkdtempSync(join(scratch, 'mode-'));
    const file = join(dir, 'app1.cnf');
    const text = `[server default]\nuser=mha\n[server1]\nhostname=h1\nrepl_password=secret\n`;
    writeFileSync(file, text, { mode: 0o640 });
    chmodSync(file, 0o640);
    const cfg = loadConfig({ appFile: file, globalFile: null });
    expect(cfg.warnings.map((w) => w.message)).toContainEqual(
      `${file} holds a password and other users may read it (mode 0640): chmod 600 ${file}, or move the password to repl_password_file= (a mode 0600 file) or MHA_REPL_PASSWORD`,
    );
    chmodSync(file, 0o600);
    expect(loadConfig({ appFile: file, globalFile: null }).warnings).toEqual([]);
  });

  it('init_conf_load_script runs without a shell too', () => {
    const dir = mkdtempSync(join(scratch, 'init-'));
    const loader = join(dir, 'loader');
    writeFileSync(loader, '#!/bin/sh\necho "ping_interval=$1"\n', { mode: 0o755 });
    const file = join(dir, 'app1.cnf');
    const write = (script: string) =>
      writeFileSync(file, `[server default]\nuser=mha\ninit_conf_load_script=${script}\n[server1]\nhostname=h1\n`, {
        mode: 0o600,
      });
    write(`${loader} 7`);
    expect(loadConfig({ appFile: file, globalFile: null }).app.pingInterval).toBe(7);
    write(`${loader} 7; touch ${pwned('init')}`);
    expect(() => loadConfig({ appFile: file, globalFile: null })).toThrow(/command list, which needs a shell/);
    expect(existsSync(pwned('init'))).toBe(false);
  });
});

describe('hooks run without a shell', () => {
  it('arguments carrying $(…), `…`, ; and quotes reach the script verbatim and never run', async () => {
    const hook = recordingScript('hook-args');
    const hostile = [
      `$(touch ${pwned('a')})`,
      `\`touch ${pwned('b')}\``,
      `x; touch ${pwned('c')}`,
      `x' ; touch ${pwned('d')}; echo '`,
      `x" && touch ${pwned('e')} && echo "`,
      `a\\b | touch ${pwned('f')}`,
    ];
    const logFile = join(scratch, 'hook-args.log');
    const log = new ManagerLog(logFile);
    const r = await runHook(log, `${hook.path} --fixed='$(touch ${pwned('g')})'`, {
      command: 'start',
      orig_master_host: hostile[0],
      orig_master_user: hostile[1],
      new_master_host: hostile[2],
      new_master_user: hostile[3],
      ssh_user: hostile[4],
      orig_master_ip: hostile[5],
      orig_master_is_new_slave: true,
      skipped: undefined,
    });
    expect(r.code).toBe(0);
    expect(readFileSync(hook.calls, 'utf8')).toBe(
      [
        `--fixed=$(touch ${pwned('g')})`,
        '--command=start',
        `--orig_master_host=${hostile[0]}`,
        `--orig_master_user=${hostile[1]}`,
        `--new_master_host=${hostile[2]}`,
        `--new_master_user=${hostile[3]}`,
        `--ssh_user=${hostile[4]}`,
        `--orig_master_ip=${hostile[5]}`,
        '--orig_master_is_new_slave',
        '---',
        '',
      ].join('\n'),
    );
    for (const t of 'abcdefg') expect(existsSync(pwned(t)), t).toBe(false);
    // The logged line is quoted for a shell, so pasting it reruns the hook with the same arguments.
    const executing = readFileSync(logFile, 'utf8').match(/Executing (.*)/)?.[1];
    expect(executing).toContain(`'--orig_master_host=$(touch ${pwned('a')})'`);
  });

  it('exit codes, a missing program (127), a non-executable one (126), the environment', async () => {
    const log = new ManagerLog(join(scratch, 'codes.log'));
    const dir = mkdtempSync(join(scratch, 'codes-'));
    const script = join(dir, 'exit10');
    writeFileSync(
      script,
      '#!/bin/sh\n[ "$MHA_NEW_MASTER_PASSWORD" = "s3cret" ] && [ "$LANG" = "C" ] && exit 10\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    expect((await runHook(log, `LANG=C ${script}`, {}, { env: { MHA_NEW_MASTER_PASSWORD: 's3cret' } })).code).toBe(10);
    expect((await runHook(log, join(dir, 'missing'), { command: 'stop' })).code).toBe(127);
    const plain = join(dir, 'not-executable');
    writeFileSync(plain, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    expect((await runHook(log, plain, {})).code).toBe(126);
    // Found on PATH, as sh would.
    expect((await runHook(log, 'true', {})).code).toBe(0);
    // A script without a #! line still runs under /bin/sh (execvp's ENOEXEC fallback), as it did through sh -c.
    const bare = join(dir, 'no-shebang');
    writeFileSync(bare, '[ "$1" = "--command=stop" ] && exit 3\nexit 1\n', { mode: 0o755 });
    expect((await runHook(log, bare, { command: 'stop' })).code).toBe(3);
    expect(readFileSync(join(scratch, 'codes.log'), 'utf8')).not.toContain('s3cret');
  });
});

describe('statements built from names and passwords', () => {
  const mariadb = replicationDialect(parseServerVersion('10.11.6-MariaDB-log'));
  const mysql84 = replicationDialect(parseServerVersion('8.4.0'));
  const hostile = {
    host: "h'); DROP TABLE t; --`\\",
    user: 'u`\'\\"; SET GLOBAL read_only=0; --',
    password: "p'w\"\\`x\\' , MASTER_HOST='evil",
    file: "mysql-bin.000001', MASTER_LOG_POS=4; DROP DATABASE app; --",
  };

  it('CHANGE MASTER / CHANGE REPLICATION SOURCE: every name and the password are parameters', () => {
    for (const d of [mariadb, mysql84]) {
      for (const spec of [
        { ...hostile, port: 3306, position: { file: hostile.file, pos: 4 } },
        { ...hostile, port: 3306, gtid: d === mariadb ? ('slave_pos' as const) : ('auto' as const) },
      ]) {
        const st = changeSourceStatement(d, spec);
        // Nothing of the values is in the statement text: only placeholders.
        for (const v of Object.values(hostile)) expect(st.sql).not.toContain(v.slice(0, 3));
        expect(st.sql).not.toMatch(/['"`\\;]/);
        expect(st.params).toContain(hostile.host);
        expect(st.params).toContain(hostile.user);
        expect(st.params).toContain(hostile.password);
        // The displayed form (logs, report: MHA's "Statement should be") escapes, and hides the password.
        expect(st.display).not.toContain('evil');
        expect(st.display).toContain(`_USER='u\`\\'\\\\"; SET GLOBAL read_only=0; --'`);
        expect(st.display).toContain(`_HOST='h\\'); DROP TABLE t; --\`\\\\'`);
      }
    }
  });

  it('database names from the binlog are backtick-quoted with backticks doubled; strings escaped', () => {
    expect(quoteIdentifier('app`; DROP DATABASE x; --')).toBe('`app``; DROP DATABASE x; --`');
    expect(quoteString("it's\\'; DROP TABLE t; --\n")).toBe("'it\\'s\\\\\\'; DROP TABLE t; --\\n'");
    expect(sqlString("o'k\\\0\x1a")).toBe("'o\\'k\\\\\\0\\Z'");
  });

  it('a GTID from the binlog is a quoted string in GTID_NEXT (a tag is free text)', () => {
    const gtid = "3e11fa47-71ca-11e1-9e33-c80aa9429562:ta'g; DROP TABLE t; --:5";
    const ev = {
      typeCode: EventType.GTID_TAGGED,
      data: { gtid, tag: "ta'g; DROP TABLE t; --" },
      offset: 4,
      length: 50,
      endLogPos: 54,
      inPayload: false,
      timestamp: 1,
      serverId: 1,
    } as unknown as BinlogEvent;
    const [st] = new SqlRenderer({ preamble: false }).push(ev);
    expect(st.sql).toBe("SET @@SESSION.GTID_NEXT='3e11fa47-71ca-11e1-9e33-c80aa9429562:ta\\'g; DROP TABLE t; --:5'");
  });

  it('position and GTID waits take the file name and the GTID set as parameters', () => {
    const p = positionWaitStatement(mariadb, { file: hostile.file, pos: 4 }, 5);
    expect(p.sql).toBe('SELECT MASTER_POS_WAIT(?, ?, ?) AS r');
    expect(p.params[0]).toBe(hostile.file);
    const g = gtidWaitStatement(mysql84, "x'; DROP TABLE t; --", 5);
    expect(g.sql).toBe('SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r');
    expect(g.params[0]).toBe("x'; DROP TABLE t; --");
  });
});

describe.skipIf(!sshdAvailable())('SSH host keys, through ssh_options as an app1.cnf gives them', () => {
  let sshd: SshdLab;
  let fingerprint: string;
  let dir: string;
  const HOST = '127.0.0.165';
  const savedHome = process.env.HOME;

  beforeAll(async () => {
    sshd = await startSshd({ addresses: [HOST], port: 22 });
    fingerprint = hostKeyFingerprint(Buffer.from(sshd.hostPublicKey.split(' ')[1], 'base64'));
    dir = mkdtempSync(join(scratch, 'ssh-'));
  });
  afterAll(async () => {
    await sshd?.stop();
  });
  afterEach(() => {
    process.env.HOME = savedHome;
  });

  /** Connect the way the manager does (config → hostAccessConfig → file access) and run one command. */
  async function probe(sshOptions: string): Promise<RemoteError | undefined> {
    const file = join(dir, 'app1.cnf');
    writeFileSync(
      file,
      `[server default]\nuser=root\nssh_user=root\nssh_options=${sshOptions}\nmanager_workdir=${dir}\n[server1]\nhostname=${HOST}\n`,
      { mode: 0o600 },
    );
    const cfg = loadConfig({ appFile: file, globalFile: null });
    const access = accessFor(hostAccessConfig(cfg.servers[0]));
    try {
      expect(await access.exists('/')).toBe(true);
      return undefined;
    } catch (e) {
      if (e instanceof RemoteError) return e;
      throw e;
    } finally {
      await access.close?.();
    }
  }

  it('a configured known_hosts file: accepted', async () => {
    expect(await probe(`-i ${sshd.identityFile} -o UserKnownHostsFile=${sshd.knownHostsFile}`)).toBeUndefined();
  });

  it('an unknown host key is refused by default, naming the host, the fingerprint and the file; nothing is recorded', async () => {
    // The default known_hosts is ~/.ssh/known_hosts: an empty home makes the host unknown.
    const home = mkdtempSync(join(dir, 'home-'));
    mkdirSync(join(home, '.ssh'), { mode: 0o700 });
    writeFileSync(join(home, '.ssh', 'known_hosts'), '', { mode: 0o600 });
    process.env.HOME = home;
    for (const extra of ['', '-o StrictHostKeyChecking=yes', '-o StrictHostKeyChecking=ask']) {
      const e = await probe(`-i ${sshd.identityFile} ${extra}`);
      expect(e, extra).toBeInstanceOf(RemoteError);
      expect(e!.stage).toBe('hostkey');
      expect(e!.message).toContain(`${HOST} is not in ${join(home, '.ssh', 'known_hosts')}`);
      expect(e!.message).toContain(fingerprint);
    }
    expect(readFileSync(join(home, '.ssh', 'known_hosts'), 'utf8')).toBe('');
  });

  it('a changed host key is refused, also under accept-new, naming the host, the new fingerprint and the line', async () => {
    const other = join(dir, 'known_hosts_other');
    // A key of another host filed under this host's name: what a reinstalled host or an interceptor presents.
    const otherKey = (await startSshdKey()).split(' ').slice(0, 2).join(' ');
    writeFileSync(other, `# previous key\n${HOST} ${otherKey}\n`, { mode: 0o600 });
    for (const strict of ['yes', 'accept-new']) {
      const e = await probe(
        `-i ${sshd.identityFile} -o UserKnownHostsFile=${other} -o StrictHostKeyChecking=${strict}`,
      );
      expect(e, strict).toBeInstanceOf(RemoteError);
      expect(e!.stage).toBe('hostkey');
      expect(e!.message).toContain(`the host key of ${HOST} changed: it offered ssh-ed25519 ${fingerprint}`);
      expect(e!.message).toContain(`${other} line 2`);
    }
    // Configured otherwise (MHA's usual StrictHostKeyChecking=no): accepted.
    expect(
      await probe(`-i ${sshd.identityFile} -o UserKnownHostsFile=${other} -o StrictHostKeyChecking=no`),
    ).toBeUndefined();
  });

  it('accept-new records an unknown key once; a later change is refused', async () => {
    const file = join(dir, 'known_hosts_new');
    expect(
      await probe(`-i ${sshd.identityFile} -o UserKnownHostsFile=${file} -o StrictHostKeyChecking=accept-new`),
    ).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe(`${HOST} ${sshd.hostPublicKey}\n`);
    expect(await probe(`-i ${sshd.identityFile} -o UserKnownHostsFile=${file}`)).toBeUndefined();
  });

  async function startSshdKey(): Promise<string> {
    const { execFileSync } = await import('node:child_process');
    const key = join(dir, `other_${Date.now()}`);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    return readFileSync(`${key}.pub`, 'utf8');
  }
});

// ---------------------------------------------------------------------------------------------
// A real failover with hostile names and passwords

/** Every process's arguments, sampled until stopped. */
class ArgumentWatch {
  readonly exposed: string[] = [];
  readonly seen = new Set<string>();
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly secrets: string[],
    private readonly interesting: string,
  ) {
    this.done = this.loop();
  }

  private sampleOnce(): void {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let cmd: string;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ');
      } catch {
        continue; // gone
      }
      if (cmd.includes(this.interesting)) this.seen.add(cmd);
      for (const s of this.secrets) {
        if (cmd.includes(s)) this.exposed.push(`pid ${pid}: ${cmd.replaceAll(s, '<password>').slice(0, 300)}`);
      }
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.sampleOnce();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

function walk(dir: string): string[] {
  const out: string[] = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8).padStart(4, '0');

describe.skipIf(!mariadbAvailable() || !sshdAvailable())(
  'a dead-master failover with quotes, backslashes, backticks and $(…) in names and passwords',
  () => {
    let cluster: ClusterLab | undefined;
    let failoverLog = '';
    afterAll(async () => {
      await cluster?.close();
    });

    // Balanced quotes, so that a shell reading the user name unquoted would run the $(…).
    const ADMIN_USER = `o'k'"a"\\b$(touch ${pwned('user')})`;
    const ADMIN_PASSWORD = `Adm'n"pw\\\`x$(touch ${pwned('pw')})`;
    const ROOT_PASSWORD = `R'o"o\`t\\pw;#x`;
    const REPL_USER = `re\`pl'u"s\\r`;
    const REPL_PASSWORD = `rp'w"d\\\`q\\' , MASTER_HOST='evil`;
    const SECRETS = [ADMIN_PASSWORD, ROOT_PASSWORD, REPL_PASSWORD];

    it('no password in any process’s arguments, the log, the report or the workdir; files 0600 in a 0700 workdir; replication set up with the names intact; nothing a shell would run is run', {
      timeout: 300_000,
    }, async () => {
      const ipHook = recordingScript('master_ip_failover', 0, 0.4);
      const shutdownHook = recordingScript('shutdown', 10, 0.4);
      const reportHook = recordingScript('report', 0, 0.4);
      const secondaryHook = recordingScript('secondary', 0, 0.4);
      cluster = await startCluster({
        firstOctet: 161,
        rootPassword: ROOT_PASSWORD,
        replUser: REPL_USER,
        replPassword: REPL_PASSWORD,
        serverDefault: [
          `master_ip_failover_script=${ipHook.path} --tag='$(touch ${pwned('tag')})' "--semi=a;b" --end`,
          `shutdown_script=${shutdownHook.path}`,
          `report_script=${reportHook.path}`,
          `secondary_check_script=${secondaryHook.path}`,
        ],
        keep: !!process.env.KEEP_LAB,
      });
      const c = cluster;
      // The manager logs in as a user whose name a shell would execute.
      await c.lab.query('db1', "CREATE USER ?@'%' IDENTIFIED BY ?", [ADMIN_USER, ADMIN_PASSWORD]);
      await c.lab.query('db1', "GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [ADMIN_USER]);
      for (const s of LOAD_DDL) await c.lab.query('db1', s);
      await c.lab.waitForReplicaCatchUp('db2', 'db1', 30_000);
      await c.lab.waitForReplicaCatchUp('db3', 'db1', 30_000);
      const cnf = readFileSync(c.confFile, 'utf8')
        .replace(/^user=root$/m, `user=${ADMIN_USER}`)
        .replace(/^password=.*$/m, `password=${ADMIN_PASSWORD}`);
      expect(cnf).toContain(`user=${ADMIN_USER}`);
      writeFileSync(c.confFile, cnf);
      // MHA accepts a group/world-readable configuration holding a password: so do we, with a warning.
      chmodSync(c.confFile, 0o644);

      // db3's server runs with NO_BACKSLASH_ESCAPES: a backslash-escaped string would end early there.
      await c.lab.query(
        'db3',
        "SET GLOBAL sql_mode = CONCAT_WS(',', NULLIF(@@GLOBAL.sql_mode, ''), 'NO_BACKSLASH_ESCAPES')",
      );
      {
        const conn = await ServerConnection.open({
          host: c.hosts[2],
          port: 3306,
          user: ADMIN_USER,
          password: ADMIN_PASSWORD,
        });
        try {
          const [st] = await conn.query('SHOW SLAVE STATUS');
          await conn.query('STOP SLAVE');
          const change = changeSourceStatement(conn.dialect, {
            host: c.hosts[0],
            port: 3306,
            user: REPL_USER,
            password: REPL_PASSWORD,
            position: { file: String(st.Relay_Master_Log_File), pos: Number(st.Exec_Master_Log_Pos) },
            connectRetrySec: 1,
          });
          await conn.query(change.sql, change.params);
          await conn.query('START SLAVE');
          // A syntax error quotes the statement with the parameters inlined: never the password.
          const bad = await conn
            .query('CHANGE MASTER TO MASTER_HOST=oops oops, MASTER_PASSWORD=?', [REPL_PASSWORD])
            .then(
              () => undefined,
              (e: Error) => e,
            );
          expect(bad?.message).toMatch(/SQL syntax.*near \(withheld: the statement holds a password\)/);
          expect(bad?.message).not.toMatch(/rp\\?'|evil|w\\?"d/);
        } finally {
          await conn.close();
        }
        // The I/O thread logs in with the password as given: it connects.
        let io = '';
        for (let i = 0; i < 100 && io !== 'Yes'; i++) {
          await new Promise((r) => setTimeout(r, 100));
          io = String((await c.lab.slaveStatus('db3'))?.Slave_IO_Running);
        }
        expect(io).toBe('Yes');
        expect((await c.lab.slaveStatus('db3'))?.Master_User).toBe(REPL_USER);
      }

      const load = new LoadGenerator({ host: c.hosts[0], port: 3306, password: ROOT_PASSWORD, connections: 2 });
      await load.start();
      const watch = new ArgumentWatch(SECRETS, scratch);
      const controller = new AbortController();
      const reports: FailoverReport[] = [];
      const manager = runManager({
        confFile: c.confFile,
        globalConf: null,
        exitAfterFailover: true,
        signal: controller.signal,
        onFailover: (r) => reports.push(r),
      });
      let code: number;
      try {
        await new Promise((r) => setTimeout(r, 1500));
        // db3 falls behind: it gets a diff, written to the workdir and applied under NO_BACKSLASH_ESCAPES.
        await c.lab.query('db3', 'STOP SLAVE IO_THREAD');
        await new Promise((r) => setTimeout(r, 1000));
        await c.lab.killInstance('db1');
        await load.ended(15_000);
        code = await Promise.race([
          manager,
          new Promise<number>((r) =>
            setTimeout(() => {
              controller.abort();
              r(-1);
            }, 180_000),
          ),
        ]);
      } finally {
        await watch.stop();
      }
      const log = readFileSync(c.managerLog, 'utf8');
      expect(code, log.slice(-4000)).toBe(0);
      expect(log).toContain('completed successfully.');

      // Nothing a shell would have run, ran.
      for (const t of ['user', 'pw', 'tag']) expect(existsSync(pwned(t)), t).toBe(false);

      // The hooks ran as separate processes the watch saw, with MHA's arguments intact.
      expect([...watch.seen].some((cmd) => cmd.includes(ipHook.path) && cmd.includes('--command=start'))).toBe(true);
      expect([...watch.seen].some((cmd) => cmd.includes(secondaryHook.path))).toBe(true);
      const ipCalls = readFileSync(ipHook.calls, 'utf8');
      expect(ipCalls).toContain(`--tag=$(touch ${pwned('tag')})\n--semi=a;b\n--end\n--command=start\n`);
      expect(ipCalls).toContain(`\n--new_master_user=${ADMIN_USER}\n--new_master_password=xxx\n`);
      expect(readFileSync(secondaryHook.calls, 'utf8')).toContain(`\n--master_user=${ADMIN_USER}\n`);
      expect(readFileSync(shutdownHook.calls, 'utf8')).toContain('--command=stopssh\n');
      expect(existsSync(reportHook.calls)).toBe(true);

      // No password in any process's arguments, the log, the report or any file of the workdir.
      expect(watch.exposed).toEqual([]);
      for (const s of SECRETS) expect(log).not.toContain(s);
      expect(JSON.stringify(reports)).not.toMatch(/Adm'n|R'o"o|rp'w/);
      const files = walk(c.workdir);
      expect(files.some((f) => f.endsWith('app1.failover.report.json'))).toBe(true);
      expect(files.filter((f) => f.endsWith('.binlog')).length, files.join('\n')).toBeGreaterThan(0);
      for (const f of files) {
        if (statSync(f).isDirectory()) continue;
        const bytes = readFileSync(f);
        for (const s of SECRETS) expect(bytes.includes(s), `a password in ${f}`).toBe(false);
      }

      // The workdir 0700, everything in it 0600 (state, report, saved binlogs); the log 0600.
      const modes = Object.fromEntries(files.map((f) => [f.slice(c.workdir.length) || '/', mode(f)]));
      const expected = Object.fromEntries(
        files.map((f) => [f.slice(c.workdir.length) || '/', statSync(f).isDirectory() ? '0700' : '0600']),
      );
      expect(modes).toEqual(expected);
      expect(mode(c.managerLog)).toBe('0600');

      // The readable configuration is named in the log, with its mode.
      expect(log).toContain(`${c.confFile} holds a password and other users may read it (mode 0644)`);

      // Replication set up from the names as configured, on the NO_BACKSLASH_ESCAPES server too.
      const newMaster = reports[0]?.newMaster ?? '';
      const survivors = ['db2', 'db3'].filter((db) => !newMaster.startsWith(c.hosts[Number(db.slice(2)) - 1]));
      expect(survivors).toHaveLength(1);
      const st = await c.lab.slaveStatus(survivors[0]);
      expect(st?.Master_User).toBe(REPL_USER);
      expect(st?.Slave_IO_Running).toBe('Yes');
      expect(st?.Slave_SQL_Running).toBe('Yes');
      // db3's diff, applied under NO_BACKSLASH_ESCAPES, left it identical to the new master.
      const nm = survivors[0] === 'db2' ? 'db3' : 'db2';
      await c.lab.waitForReplicaCatchUp(survivors[0], nm, 30_000);
      const sum = async (db: string) => (await c.lab.query(db, 'CHECKSUM TABLE app.orders EXTENDED'))[0].Checksum;
      expect(await sum(survivors[0])).toBe(await sum(nm));
      failoverLog = log;
    });

    it('the log’s "Statement should be" escapes the names (and hides the password)', () => {
      expect(failoverLog).toContain('Statement should be');
      expect(failoverLog).toMatch(
        /Statement should be: CHANGE MASTER TO .*MASTER_USER='re`pl\\'u"s\\\\r', MASTER_PASSWORD='xxx';/,
      );
    });
  },
);
