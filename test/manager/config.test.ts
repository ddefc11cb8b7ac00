import {
  chmodSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  addServerBlock,
  ConfigError,
  confHostBlockName,
  deleteBlock,
  IniDocument,
  levenshtein,
  loadConfig,
  MHA_PARAMETER_NAMES,
  mhaServerOrder,
  PARAMETER_BY_NAME,
  PARAMETERS,
  parseConfHostParams,
  parseSshOptions,
  redact,
  redactText,
  Secret,
  suggestParameter,
  writeFileAtomic,
} from '../../src/manager/config/index.js';

const APP1 = `# MHA configuration for application "app1" (orders database)
# Maintained by hand: see runbook DB-42.

[server default]
# manager side
manager_workdir=/var/log/masterha/app1
manager_log=/var/log/masterha/app1/manager.log

# MySQL accounts
user=mha
password=apppass
repl_user=repl
repl_password="repl pass"
ssh_user = mha
ssh_options="-i /etc/mha/keys/id_ed25519 -o UserKnownHostsFile=/etc/mha/known_hosts -o StrictHostKeyChecking=yes -o ConnectTimeout=7"
master_binlog_dir = /data/mysql/binlog, /data/mysql/binlog2
ping_interval=5
secondary_check_script= masterha_secondary_check -s remote1 -s remote2 --user=mha
; old-style comment
master_ip_failover_script=/usr/local/bin/master_ip_failover ; VIP switch

[server1]
hostname=db1.example.com
ip=10.0.0.11
candidate_master=1

[server10]
hostname=db10.example.com
ignore_fail=1

# db2 lives in the second rack
[server2]
hostname=db2.example.com
port=3307
candidate_master=1
ssh_port=2222

[server3]
hostname=db3.example.com
no_master=1
ssh_options=-o IdentityFile=/etc/mha/keys/db3 -p 2200 -o ServerAliveInterval=30 -o ProxyJump=bastion

[binlog1]
hostname=binlog1.example.com
master_binlog_dir=/var/lib/binlog-server
`;

const GLOBAL = `# company-wide MHA defaults
[server default]
user=root
password=globalpass
remote_workdir=/data/log/masterha
ping_type=connect
log_level=debug
report_script=/usr/local/bin/send_report
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mha-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function lineOf(text: string, needle: string, from = 0): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l, n) => n >= from && l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in text`);
  return i + 1;
}

function load(app: string, opts: { global?: string; env?: Record<string, string>; mode?: number } = {}) {
  const appFile = write('app1.cnf', app, opts.mode ?? 0o600);
  const globalFile = opts.global !== undefined ? write('masterha_default.cnf', opts.global) : null;
  return loadConfig({ appFile, globalFile, env: opts.env ?? {}, osUser: 'tester', homeDir: '/home/tester' });
}

function loadError(app: string, opts: { global?: string; env?: Record<string, string> } = {}): ConfigError {
  try {
    load(app, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parameter table', () => {
  it('holds exactly the 42 names of MHA 0.58 (MHA::Config @PARAM_ARRAY) plus the two mha-ts password files', () => {
    const mha =
      'hostname ip port ssh_host ssh_ip ssh_port ssh_connection_timeout ssh_options node_label candidate_master no_master ignore_fail skip_init_ssh_check skip_reset_slave user password repl_user repl_password disable_log_bin master_pid_file handle_raw_binlog ssh_user remote_workdir master_binlog_dir log_level manager_workdir manager_log check_repl_delay check_repl_filter latest_priority multi_tier_slave ping_interval ping_type secondary_check_script master_ip_failover_script master_ip_online_change_script shutdown_script report_script init_conf_load_script client_bindir client_libdir use_gtid_auto_pos'.split(
        ' ',
      );
    expect(mha).toHaveLength(42);
    expect([...MHA_PARAMETER_NAMES].sort()).toEqual([...mha].sort());
    expect(PARAMETERS.filter((p) => p.mhaTs).map((p) => p.name)).toEqual([
      'password_file',
      'repl_password_file',
      'etcd_endpoints',
      'etcd_prefix',
      'manager_lease_ttl',
    ]);
    for (const p of PARAMETERS) expect(p.description.length).toBeGreaterThan(10);
  });

  it('has the scopes of §2 (per-server only, application only)', () => {
    const scope = (n: string) => PARAMETER_BY_NAME.get(n)?.scope;
    for (const n of [
      'hostname',
      'ip',
      'node_label',
      'candidate_master',
      'no_master',
      'ignore_fail',
      'skip_init_ssh_check',
    ]) {
      expect(scope(n)).toBe('L');
    }
    expect(scope('manager_workdir')).toBe('A');
    expect(scope('manager_log')).toBe('A');
    for (const n of ['ping_interval', 'ping_type', 'secondary_check_script', 'latest_priority', 'check_repl_delay']) {
      expect(scope(n)).toBe('A/G');
    }
    for (const n of [
      'port',
      'user',
      'password',
      'ssh_options',
      'master_binlog_dir',
      'use_gtid_auto_pos',
      'client_bindir',
    ]) {
      expect(scope(n)).toBe('L/A/G');
    }
  });

  it('suggests the parameter a typo meant', () => {
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('ab', 'ba')).toBe(1);
    expect(suggestParameter('canidate_master')).toBe('candidate_master');
    expect(suggestParameter('ping_intervall')).toBe('ping_interval');
    expect(suggestParameter('sshoptions')).toBe('ssh_options');
    expect(suggestParameter('repl_pass')).toBe('repl_password');
    expect(suggestParameter('heartbeat_interval')).toBeUndefined();
  });
});

describe('loadConfig: a real app1.cnf with a global masterha_default.cnf', () => {
  it('merges global → application [server default] → [serverN], in MHA order', () => {
    const cfg = load(APP1, { global: GLOBAL });
    const app1 = join(dir, 'app1.cnf');
    const glob = join(dir, 'masterha_default.cnf');

    expect(cfg.app).toMatchObject({
      name: 'app1',
      confFile: app1,
      globalConfFile: glob,
      managerWorkdir: '/var/log/masterha/app1',
      managerLog: '/var/log/masterha/app1/manager.log',
      logLevel: 'debug', // global
      pingType: 'CONNECT', // global, upper-cased as MHA does
      pingInterval: 5, // application
      secondaryCheckScript: 'masterha_secondary_check -s remote1 -s remote2 --user=mha',
      masterIpFailoverScript: '/usr/local/bin/master_ip_failover', // " ; VIP switch" is a Config::Tiny comment
      reportScript: '/usr/local/bin/send_report',
    });
    expect(cfg.app.sources.ping_interval).toEqual({
      kind: 'file',
      file: app1,
      block: 'server default',
      line: lineOf(APP1, 'ping_interval'),
    });
    expect(cfg.app.sources.log_level).toEqual({ kind: 'file', file: glob, block: 'server default', line: 7 });
    expect(cfg.app.sources.shutdown_script).toEqual({ kind: 'default' });

    // server1, server2, server3, server10: numeric, not file or lexicographic order.
    expect(cfg.servers.map((s) => s.id)).toEqual(['server1', 'server2', 'server3', 'server10']);
    const [s1, s2, s3, s10] = cfg.servers;

    expect(s1).toMatchObject({
      hostname: 'db1.example.com',
      ip: '10.0.0.11',
      port: 3306,
      user: 'mha', // application over global
      replUser: 'repl',
      candidateMaster: true,
      noMaster: false,
      remoteWorkdir: '/data/log/masterha', // global
      masterBinlogDirs: ['/data/mysql/binlog', '/data/mysql/binlog2'], // whitespace removed
      line: lineOf(APP1, '[server1]'),
    });
    expect(s1.password.reveal()).toBe('apppass');
    expect(s1.replPassword?.reveal()).toBe('repl pass'); // quotes stripped
    expect(s1.ssh).toMatchObject({
      host: 'db1.example.com',
      ip: '10.0.0.11',
      port: 22,
      user: 'mha',
      connectionTimeoutSec: 7, // from ssh_options, ssh_connection_timeout not set
    });
    expect(s1.ssh.options).toMatchObject({
      identityFiles: ['/etc/mha/keys/id_ed25519'],
      userKnownHostsFile: '/etc/mha/known_hosts',
      strictHostKeyChecking: 'yes',
      connectTimeoutSec: 7,
      other: [],
    });

    expect(s2).toMatchObject({ hostname: 'db2.example.com', port: 3307, candidateMaster: true });
    expect(s2.ssh.port).toBe(2222);
    expect(s2.ssh.ip).toBeUndefined(); // resolve later
    expect(s2.sources.port).toEqual({ kind: 'file', file: app1, block: 'server2', line: lineOf(APP1, 'port=3307') });
    expect(s2.sources.user).toEqual({
      kind: 'file',
      file: app1,
      block: 'server default',
      line: lineOf(APP1, 'user=mha'),
    });

    // A per-server ssh_options replaces the application's; -p applies since ssh_port is not set.
    expect(s3.noMaster).toBe(true);
    expect(s3.ssh.port).toBe(2200);
    expect(s3.ssh.options.identityFiles).toEqual(['/etc/mha/keys/db3']);
    expect(s3.ssh.options.serverAliveIntervalSec).toBe(30);
    expect(s3.ssh.options.other).toEqual(['-o ProxyJump=bastion']);
    expect(cfg.warnings.map((w) => `${w.block} ${w.key}: ${w.message}`)).toContain(
      'server3 ssh_options: ignored (not used by the built-in SSH client): -o ProxyJump=bastion',
    );

    expect(s10).toMatchObject({ hostname: 'db10.example.com', ignoreFail: true });

    expect(cfg.binlogServers).toHaveLength(1);
    expect(cfg.binlogServers[0]).toMatchObject({
      id: 'binlog1',
      hostname: 'binlog1.example.com',
      masterBinlogDirs: ['/var/lib/binlog-server'],
      remoteWorkdir: '/data/log/masterha',
    });
    expect(cfg.binlogServers[0].ssh.user).toBe('mha');
  });

  it('uses every default MHA uses when nothing is configured', () => {
    const cfg = load('[server1]\nhostname=h1\n');
    const s = cfg.servers[0];
    // Server-level defaults (reference/mha-behaviour.md §2).
    expect(s.port).toBe(3306);
    expect(s.ip).toBeUndefined();
    expect(s.user).toBe('root');
    expect(s.password.reveal()).toBe('');
    expect(s.replUser).toBeUndefined();
    expect(s.replPassword).toBeUndefined();
    expect(s.candidateMaster).toBe(false);
    expect(s.noMaster).toBe(false);
    expect(s.ignoreFail).toBe(false);
    expect(s.skipInitSshCheck).toBe(false);
    expect(s.skipResetSlave).toBe(false);
    expect(s.disableLogBin).toBe(false);
    expect(s.handleRawBinlog).toBe(true);
    expect(s.useGtidAutoPos).toBe(true);
    expect(s.masterPidFile).toBeUndefined();
    expect(s.remoteWorkdir).toBe('/var/tmp');
    expect(s.masterBinlogDirs).toEqual(['/var/lib/mysql', '/var/log/mysql']);
    expect(s.clientBindir).toBeUndefined();
    expect(s.ssh).toMatchObject({ host: 'h1', port: 22, user: 'tester', connectionTimeoutSec: 5, optionsText: '' });
    // Application-level defaults.
    expect(cfg.app).toMatchObject({
      name: 'app1',
      managerWorkdir: '/var/tmp',
      managerLog: undefined,
      logLevel: 'info',
      checkReplDelay: true,
      checkReplFilter: true,
      latestPriority: true,
      multiTierSlave: false,
      pingInterval: 3,
      pingType: 'SELECT',
      secondaryCheckScript: undefined,
      masterIpFailoverScript: undefined,
      masterIpOnlineChangeScript: undefined,
      shutdownScript: undefined,
      reportScript: undefined,
      initConfLoadScript: undefined,
    });
    expect(cfg.warnings).toEqual([]);
  });

  it('follows MHA for empty values, quotes and per-server-only parameters', () => {
    const cfg = load(
      [
        '[server default]',
        'user=',
        'port=',
        'handle_raw_binlog=',
        "remote_workdir='/srv/mha'",
        'ssh_user=abc"', // MHA strips a trailing quote even without a leading one
        '[server1]',
        'hostname=h1',
        'password=',
      ].join('\n'),
      { global: '[server default]\nuser=globaluser\nshutdown_script=/bin/fence\n' },
    );
    const s = cfg.servers[0];
    expect(s.user).toBe('root'); // empty → MHA's built-in default, not the global value
    expect(s.port).toBe(3306);
    expect(s.handleRawBinlog).toBe(false); // Perl-falsy
    expect(s.remoteWorkdir).toBe('/srv/mha');
    expect(s.ssh.user).toBe('abc');
    expect(s.password.reveal()).toBe('');
    expect(cfg.app.shutdownScript).toBe('/bin/fence');
  });

  it('reads the global file from /etc/masterha_default.cnf only when present, and warns when a given one is missing', () => {
    const appFile = write('app1.cnf', '[server1]\nhostname=h1\n');
    const cfg = loadConfig({ appFile, globalFile: join(dir, 'nope.cnf'), env: {} });
    expect(cfg.app.globalConfFile).toBeUndefined();
    expect(cfg.warnings[0].message).toContain('not found');
  });

  it('applies init_conf_load_script output between the application defaults and the servers', () => {
    const app =
      '[server default]\ninit_conf_load_script=/usr/local/bin/conf_loader\npassword=cnf\nping_interval=4\n[server1]\nhostname=h1\n';
    const appFile = write('app1.cnf', app);
    const seen: string[] = [];
    const cfg = loadConfig({
      appFile,
      globalFile: null,
      env: {},
      runInitConfLoadScript: (cmd) => {
        seen.push(cmd);
        return 'password=from=script\nping_interval=9\n';
      },
    });
    expect(seen).toEqual(['/usr/local/bin/conf_loader']);
    expect(cfg.servers[0].password.reveal()).toBe('from=script'); // MHA would cut at the second '='
    expect(cfg.app.pingInterval).toBe(9);
    expect(cfg.app.sources.ping_interval).toEqual({
      kind: 'init-script',
      script: '/usr/local/bin/conf_loader',
      line: 2,
    });

    const bad = () =>
      loadConfig({ appFile, globalFile: null, env: {}, runInitConfLoadScript: () => 'candidate_master=1\n' });
    expect(bad).toThrow(/init_conf_load_script: output line 1: candidate_master cannot be set here/);
  });
});

describe('loadConfig: errors name file, block, key and line', () => {
  it('a value that is not a number', () => {
    const text = '[server1]\nhostname=h1\n\n[server2]\nhostname=h2\nport=33o6\n';
    const err = loadError(text);
    expect(err).toMatchObject({ block: 'server2', key: 'port', line: 6 });
    expect(err.file).toMatch(/app1\.cnf$/);
    expect(err.message).toMatch(/app1\.cnf:6 \[server2\] port: "33o6" is not a number$/);
  });

  it('an unknown key, with a suggestion for a near miss', () => {
    const err = loadError('[server default]\npasword=x\n\n[server1]\nhostname=h1\ncanidate_master=1\nfoo_bar=1\n');
    expect(err.issues.map((i) => [i.block, i.key, i.line])).toEqual([
      ['server default', 'pasword', 2],
      ['server1', 'canidate_master', 6],
      ['server1', 'foo_bar', 7],
    ]);
    expect(err.message).toContain('[server default] pasword: unknown parameter — did you mean "password"?');
    expect(err.message).toContain('[server1] canidate_master: unknown parameter — did you mean "candidate_master"?');
    expect(err.message).toMatch(/\[server1\] foo_bar: unknown parameter$/m);
  });

  it('a key in a block where it does not belong', () => {
    const err = loadError(
      '[server default]\ncandidate_master=1\n[server1]\nhostname=h1\nping_interval=3\nmanager_log=/x.log\n[binlog1]\nhostname=b1\nno_master=1\n',
    );
    expect(err.issues.map((i) => `${i.block}:${i.key}:${i.line}`)).toEqual([
      'server default:candidate_master:2',
      'server1:ping_interval:5',
      'server1:manager_log:6',
      'binlog1:no_master:9',
    ]);
    expect(err.issues[0].message).toMatch(
      /per-server parameter: set it in a \[serverN\] block .*MHA 0\.58 silently ignores/,
    );
    expect(err.issues[1].message).toContain('application setting');
  });

  it('no server at all', () => {
    const err = loadError('[server default]\nuser=root\n');
    expect(err.message).toMatch(/app1\.cnf: no server is defined/);
    expect(loadError('[server1]\nport=3306\n').message).toMatch(/\[server1\] hostname: missing/);
  });

  it('two servers at the same host:port', () => {
    const err = loadError(
      '[server1]\nhostname=db1\n[server2]\nhostname=DB1\nport=3306\n[server3]\nhostname=db1\nport=3307\n',
    );
    expect(err.issues).toHaveLength(1);
    expect(err).toMatchObject({ block: 'server2', key: 'hostname', line: 4 });
    expect(err.message).toContain('duplicate address db1:3306: [server1] (line 1) has the same ip:port');
  });

  it('block names, syntax errors and keys outside any block', () => {
    const err = loadError('user=root\n[server_default]\nuser=x\n[foo]\n[server1]\nhostname=h1\nthis is not ini\n');
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(4);
    expect(err.message).toMatch(/app1\.cnf:7 \[server1\]: syntax error: 'this is not ini'/);
    expect(err.message).toMatch(/app1\.cnf:1 user: outside any block/);
    expect(err.message).toMatch(/app1\.cnf:2 \[server_default\]: looks like a misspelt \[server default\]/);
    expect(err.message).toMatch(/app1\.cnf:4 \[foo\]: invalid block name/);
  });

  it('bad booleans, enums and positive integers', () => {
    const err = loadError(
      '[server default]\nping_type=ICMP\nping_interval=0\nlog_level=loud\n[server1]\nhostname=h1\nno_master=yes\n',
    );
    expect(err.issues.map((i) => `${i.key}: ${i.message}`)).toEqual([
      'ping_type: "ICMP" must be one of CONNECT, SELECT, INSERT',
      'ping_interval: 0 must be a positive integer',
      'log_level: "loud" must be one of debug, info, notice, warning, error, critical, alert, emergency',
      'no_master: "yes" must be 0 or 1',
    ]);
  });

  it('warns (does not fail) on candidate_master with no_master, duplicate keys and merged blocks', () => {
    const cfg = load(
      '[server1]\nhostname=h1\nport=3306\nport=3307\ncandidate_master=1\nno_master=1\n[server1]\nuser=u\n',
    );
    expect(cfg.servers[0]).toMatchObject({ port: 3307, user: 'u' });
    const msgs = cfg.warnings.map((w) => `${w.line} ${w.key ?? ''}: ${w.message}`);
    expect(msgs).toContain("4 port: set again (line 3's value is overridden)");
    expect(msgs).toContain('7 : [server1] appears again (first at line 1); the two blocks are merged');
    expect(msgs.some((m) => m.includes('no_master wins'))).toBe(true);
  });
});

describe('passwords', () => {
  const APP = '[server default]\npassword=cnfpass\nrepl_password=cnfrepl\n[server1]\nhostname=h1\n';

  it('take the .cnf value when nothing else is given', () => {
    const s = load(APP).servers[0];
    expect(s.password.reveal()).toBe('cnfpass');
    expect(s.replPassword?.reveal()).toBe('cnfrepl');
  });

  it('prefer the environment over the .cnf, and say so', () => {
    const cfg = load(APP, { env: { MHA_PASSWORD: 'envpass', MHA_REPL_PASSWORD: 'envrepl' } });
    const s = cfg.servers[0];
    expect(s.password.reveal()).toBe('envpass');
    expect(s.replPassword?.reveal()).toBe('envrepl');
    expect(s.sources.password).toEqual({ kind: 'env', name: 'MHA_PASSWORD' });
    expect(cfg.warnings.map((w) => `${w.key}: ${w.message}`)).toContain(
      'password: ignored: environment variable MHA_PASSWORD takes precedence',
    );
  });

  it('prefer a 0600 password file over the environment (relative to the .cnf directory)', () => {
    write('mha.pw', 'filepass\n', 0o600);
    const cfg = load(`[server default]\npassword_file=mha.pw\npassword=cnfpass\n[server1]\nhostname=h1\n`, {
      env: { MHA_PASSWORD: 'envpass' },
    });
    expect(cfg.servers[0].password.reveal()).toBe('filepass');
    expect(cfg.servers[0].sources.password).toEqual({ kind: 'password-file', path: join(dir, 'mha.pw') });
  });

  it('refuse a password file other users can read', () => {
    const pw = write('mha.pw', 'filepass\n', 0o644);
    const err = loadError(`[server default]\nuser=mha\n[server1]\nhostname=h1\nrepl_password_file=${pw}\n`);
    expect(err).toMatchObject({ block: 'server1', key: 'repl_password_file', line: 5 });
    expect(err.message).toContain(`is readable or writable by other users (mode 0644); chmod 600 ${pw}`);
  });

  it('accept a password in a world-readable .cnf as MHA does, with a warning', () => {
    const cfg = load(APP, { mode: 0o644 });
    expect(cfg.servers[0].password.reveal()).toBe('cnfpass');
    expect(cfg.warnings[0]).toMatchObject({ block: 'server default', key: 'password', line: 2 });
    expect(cfg.warnings[0].message).toMatch(/other users may read it \(mode 0644\): chmod 600/);
  });

  it('never show up when a config is printed, serialised or redacted', () => {
    const cfg = load(APP);
    const s = cfg.servers[0];
    expect(JSON.stringify(cfg)).not.toContain('cnfpass');
    expect(inspect(cfg, { depth: 10 })).not.toContain('cnfpass');
    expect(`${s.password}`).toBe('xxx');
    const red = redact(cfg);
    expect(red.servers[0].password).toBe('xxx');
    expect(red.servers[0].replPassword).toBe('xxx');
    expect(red.servers[0].hostname).toBe('h1');
  });
});

describe('redact', () => {
  it('masks password fields at any depth but keeps where they come from', () => {
    const input = {
      user: 'root',
      password: 'a',
      nested: { repl_password: 'b', password_file: '/etc/mha/pw', list: [{ master_password: 'c', slave_pass: 'd' }] },
      secret: new Secret('e'),
      empty: undefined as string | undefined,
      map: new Map([['replPassword', 'f']]),
    };
    const out = redact(input);
    expect(out).toEqual({
      user: 'root',
      password: 'xxx',
      nested: {
        repl_password: 'xxx',
        password_file: '/etc/mha/pw',
        list: [{ master_password: 'xxx', slave_pass: 'xxx' }],
      },
      secret: 'xxx',
      empty: undefined,
      map: new Map([['replPassword', 'xxx']]),
    });
    expect(input.password).toBe('a'); // a copy
    const cyclic: Record<string, unknown> = { password: 'z' };
    cyclic.self = cyclic;
    expect((redact(cyclic) as { self: { password: string } }).self.password).toBe('xxx');
  });

  it('masks secrets inside text', () => {
    expect(redactText("masterha_secondary_check -s r1 --user=mha --master_password='p w' --master_port=3306")).toBe(
      'masterha_secondary_check -s r1 --user=mha --master_password=xxx --master_port=3306',
    );
    expect(redactText('connect failed for s3cr3t@db1', [new Secret('s3cr3t')])).toBe('connect failed for xxx@db1');
  });
});

describe('ssh_options', () => {
  it('reads OpenSSH forms', () => {
    const o = parseSshOptions(
      '-i ~/.ssh/id_rsa -i/etc/k2 -oIdentityFile=/etc/k3 -o "UserKnownHostsFile /etc/mha/known hosts" ' +
        '-o StrictHostKeyChecking=off -o ConnectTimeout=10 -p 2222 -l mha -qT -C -o BatchMode=yes -F /etc/ssh/alt',
      { homeDir: '/home/mha' },
    );
    expect(o).toEqual({
      identityFiles: ['/home/mha/.ssh/id_rsa', '/etc/k2', '/etc/k3'],
      userKnownHostsFile: '/etc/mha/known hosts',
      strictHostKeyChecking: 'no',
      connectTimeoutSec: 10,
      port: 2222,
      user: 'mha',
      other: ['-C', '-F /etc/ssh/alt'],
      problems: [],
    });
  });

  it('unwraps MHA-style quoting of the whole value or of each option', () => {
    expect(parseSshOptions('"-i /root/.ssh/id_dsa2 -o StrictHostKeyChecking=no"').identityFiles).toEqual([
      '/root/.ssh/id_dsa2',
    ]);
    const o = parseSshOptions(`"-i /k" '-o ConnectTimeout=3'`);
    expect(o.identityFiles).toEqual(['/k']);
    expect(o.connectTimeoutSec).toBe(3);
  });

  it('reports malformed options', () => {
    expect(parseSshOptions('-o ConnectTimeout=ten -i').problems).toEqual([
      'ConnectTimeout: "ten" is not a number',
      '-i needs an argument',
    ]);
    expect(parseSshOptions('-o "StrictHostKeyChecking=maybe').problems).toEqual([
      'unterminated double quote',
      'StrictHostKeyChecking: "maybe" is not yes, no, ask, accept-new or off',
    ]);
  });

  it('in a .cnf: explicit ssh_port/ssh_user win over -p/-l, with a warning; a bad option is an error', () => {
    const cfg = load('[server default]\nssh_options=-p 2200 -l opt\nssh_port=22\n[server1]\nhostname=h1\n');
    expect(cfg.servers[0].ssh).toMatchObject({ port: 22, user: 'opt' });
    expect(cfg.warnings[0]).toMatchObject({ key: 'ssh_port', line: 3 });
    const err = loadError('[server1]\nhostname=h1\nssh_options=-o ConnectTimeout=x\n');
    expect(err).toMatchObject({ block: 'server1', key: 'ssh_options', line: 3 });
  });
});

describe('the ini reader (Config::Tiny rules)', () => {
  it('reads sections, comments, inline " ; " comments and keeps every byte', () => {
    const text = '\uFEFF; header\r\n[ server default ]\r\nkey = a;b ; comment\r\nhash=a #b\r\n\r\n[s2]\rk=v';
    const doc = IniDocument.parse(text);
    expect(doc.toString()).toBe(text);
    expect(doc.values('server default')).toEqual({ key: 'a;b', hash: 'a #b' });
    expect(doc.values('s2')).toEqual({ k: 'v' });
    expect(doc.section('s2')?.entries[0].line).toBe(7);
    expect(doc.issues).toEqual([]);
  });
});

describe('editing keeps comments and layout (masterha_conf_host, --remove_dead_master_conf)', () => {
  it('deletes a block and leaves every other byte as it was', () => {
    const path = write('app1.cnf', APP1);
    const before = statSync(path);
    expect(deleteBlock(path, 'server2')).toEqual({ deleted: true, message: `Deleted server2 entry from ${path} .` });
    const removed =
      '# db2 lives in the second rack\n[server2]\nhostname=db2.example.com\nport=3307\ncandidate_master=1\nssh_port=2222\n\n';
    expect(APP1).toContain(removed);
    expect(readFileSync(path, 'utf8')).toBe(APP1.replace(removed, ''));
    // Atomic replacement: a new inode, same mode, no temporary file left behind.
    const after = statSync(path);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['app1.cnf']);
    // Still a valid configuration.
    const cfg = loadConfig({ appFile: path, globalFile: null, env: {} });
    expect(cfg.servers.map((s) => s.id)).toEqual(['server1', 'server3', 'server10']);
  });

  it('deletes the first and the last block cleanly, and says when a block is not there', () => {
    const path = write('app1.cnf', APP1);
    deleteBlock(path, 'binlog1');
    expect(readFileSync(path, 'utf8')).toBe(APP1.replace(/\n\[binlog1\][\s\S]*$/, ''));
    deleteBlock(path, 'server default');
    const text = readFileSync(path, 'utf8');
    expect(
      text.startsWith(
        '# MHA configuration for application "app1" (orders database)\n# Maintained by hand: see runbook DB-42.\n\n[server1]\n',
      ),
    ).toBe(true);
    const ino = statSync(path).ino;
    expect(deleteBlock(path, 'server9')).toEqual({ deleted: false, message: `Entry server9 not found from ${path} .` });
    expect(statSync(path).ino).toBe(ino);
  });

  it('adds a block at the end, in the file style, touching nothing else', () => {
    const path = write('app1.cnf', APP1);
    const msg = addServerBlock(path, {
      block: confHostBlockName({ block: '4' }),
      hostname: 'db4.example.com',
      params: parseConfHostParams('candidate_master=1;port=3308;ssh_options=-i /etc/mha/k4 -o ConnectTimeout=3'),
    });
    expect(msg).toBe(`Wrote server4 entry to ${path} .`);
    expect(readFileSync(path, 'utf8')).toBe(
      `${APP1}\n[server4]\nhostname=db4.example.com\ncandidate_master=1\nport=3308\nssh_options=-i /etc/mha/k4 -o ConnectTimeout=3\n`,
    );
    const cfg = loadConfig({ appFile: path, globalFile: null, env: {} });
    expect(cfg.servers.map((s) => s.id)).toEqual(['server1', 'server2', 'server3', 'server4', 'server10']);
    expect(cfg.servers[3]).toMatchObject({ port: 3308, candidateMaster: true });
    expect(cfg.servers[3].ssh.connectionTimeoutSec).toBe(3);
  });

  it('refuses an existing block, unknown or misplaced parameters and bad values, writing nothing', () => {
    const path = write('app1.cnf', APP1);
    expect(() => addServerBlock(path, { block: 'server1', hostname: 'x' })).toThrow(
      `Entry server1 already exists on ${path} .`,
    );
    expect(() => addServerBlock(path, { block: 'server4', hostname: 'x', params: [['canidate_master', '1']] })).toThrow(
      /server4\] canidate_master: unknown parameter — did you mean "candidate_master"\?/,
    );
    expect(() => addServerBlock(path, { block: 'server4', hostname: 'x', params: [['ping_interval', '3']] })).toThrow(
      /ping_interval: not allowed in a \[serverN\] block/,
    );
    expect(() => addServerBlock(path, { block: 'server4', hostname: 'x', params: [['port', 'abc']] })).toThrow(
      /port: "abc" is not a number/,
    );
    expect(readFileSync(path, 'utf8')).toBe(APP1);
    expect(confHostBlockName({ hostname: 'db9' })).toBe('server_db9');
  });

  it('keeps CRLF line ends and follows a symlink to the real file', () => {
    const crlf = APP1.replace(/\n/g, '\r\n');
    const real = write('real.cnf', crlf);
    const link = join(dir, 'app1.cnf');
    symlinkSync(real, link);
    addServerBlock(link, { block: 'server5', hostname: 'db5', params: [['no_master', '1']] });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe(`${crlf}\r\n[server5]\r\nhostname=db5\r\nno_master=1\r\n`);
    deleteBlock(link, 'server5');
    expect(readFileSync(real, 'utf8')).toBe(crlf);
  });

  it('writeFileAtomic creates new files 0600 by default', () => {
    const p = join(dir, 'new.cnf');
    writeFileAtomic(p, 'x\n');
    expect(statSync(p).mode & 0o777).toBe(0o600);
  });

  it('mhaServerOrder falls back to name order when a block has no number', () => {
    const ids = (xs: string[]) => mhaServerOrder(xs.map((id) => ({ id }))).map((s) => s.id);
    expect(ids(['server10', 'server2', 'server_1'])).toEqual(['server_1', 'server2', 'server10']);
    expect(ids(['server10', 'server2', 'serverb'])).toEqual(['server10', 'server2', 'serverb']);
  });
});
