/**
 * hooks/mha-haproxy with two real HAProxy instances (one administered over a unix admin
 * socket, one over TCP), MariaDB, the manager and the online switch, on a namespace
 * network. The application writes through the first HAProxy's write frontend; reads go to
 * the read frontends. After a dead-master failover and after an online switch, writes reach
 * the new master only — on both instances exactly one server takes writes — and the read
 * pools follow the replicas.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { type NetnsCluster, netnsAvailable, runCommand, startNetnsCluster } from '../lab/netns-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';
import { hookPath, runHookIn, writeHookConfig } from './hook-helpers.js';
import { describeMove, failoverScenario, switchScenario } from './scenario.js';

const can =
  netnsAvailable() &&
  sshdAvailable() &&
  mariadbAvailable() &&
  existsSync('/usr/sbin/haproxy') &&
  existsSync('/usr/bin/socat');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The haproxy.cfg docs/hooks.md shows, for one instance. */
function haproxyCfg(addr: string, adminSocket: string, hosts: string[]): string {
  const servers = (backend: 'write' | 'read') =>
    hosts
      .map((h, i) => {
        const disabled = backend === 'write' ? i !== 0 : i === 0;
        return `  server db${i + 1} ${h}:3306 check${disabled ? ' disabled' : ''}`;
      })
      .join('\n');
  return `global
  stats socket ${adminSocket} level admin
  stats timeout 30s
defaults
  mode tcp
  timeout connect 1s
  timeout client 1h
  timeout server 1h
  timeout check 1s
frontend mysql_write
  bind ${addr}:3306
  default_backend mysql_write
frontend mysql_read
  bind ${addr}:3307
  default_backend mysql_read
backend mysql_write
  option mysql-check user haproxy_check post-41
  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
${servers('write')}
backend mysql_read
  balance roundrobin
  option mysql-check user haproxy_check post-41
  default-server inter 1s fall 2 rise 1
${servers('read')}
`;
}

describe.skipIf(!can)('HAProxy hook (mha-haproxy): failover and online switch with a client through HAProxy', () => {
  let c: NetnsCluster;
  let dir: string;
  const sockets: string[] = [];
  const conf = () => join(dir, 'haproxy-hook.conf');

  /** `name admin_state op_state` per server of a backend, from one instance. */
  async function state(socket: string, backend: string): Promise<Record<string, { admin: number; op: number }>> {
    const addr = socket.startsWith('/') ? `UNIX-CONNECT:${socket}` : `TCP4:${socket}`;
    const r = await c.net.run('mgr', ['socat', '-t', '2', '-', addr], {
      input: `show servers state ${backend}\n`,
      timeoutMs: 10_000,
    });
    const out: Record<string, { admin: number; op: number }> = {};
    for (const line of r.stdout.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (/^\d+$/.test(f[0] ?? '') && f.length > 18) out[f[3]] = { admin: Number(f[6]), op: Number(f[5]) };
    }
    return out;
  }
  const takes = (s: { admin: number }) => (s.admin & 0x3b) === 0;
  async function enabled(socket: string, backend: string): Promise<string[]> {
    const st = await state(socket, backend);
    return Object.keys(st)
      .filter((k) => takes(st[k]))
      .sort();
  }
  /** server_ids answering on the read frontend, over several new connections. */
  async function readers(): Promise<number[]> {
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const r = await c.net.run(
        'client',
        [
          'mariadb',
          '--protocol=TCP',
          '-h',
          c.net.address('proxy'),
          '-P',
          '3307',
          '-u',
          c.appUser.user,
          `-p${c.appUser.password}`,
          '-N',
          '-e',
          'SELECT @@server_id',
        ],
        { timeoutMs: 10_000 },
      );
      if (r.code === 0) seen.add(Number(r.stdout.trim()));
    }
    return [...seen].sort();
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mha-hapcl-'));
    const hook = `${hookPath('mha-haproxy')} --config=${conf()}`;
    c = await startNetnsCluster({
      proxy: true,
      perServer: [[], ['candidate_master=1'], []],
      serverDefault: [`master_ip_failover_script=${hook}`, `master_ip_online_change_script=${hook}`],
    });
    await c.net.addHost('proxy2', 51);
    // HAProxy's health check logs in as this user (no password, no privileges).
    await c.lab.query('db1', "CREATE USER IF NOT EXISTS 'haproxy_check'@'%'");
    for (const r of ['db2', 'db3']) await c.lab.waitForReplicaCatchUp(r, 'db1', 60_000);
    sockets.push(join(dir, 'haproxy1.sock'), `${c.net.address('proxy2')}:9999`);
    const instances: [string, string, string][] = [
      ['proxy', c.net.address('proxy'), sockets[0]],
      ['proxy2', c.net.address('proxy2'), `ipv4@${sockets[1]}`],
    ];
    for (const [role, addr, admin] of instances) {
      const cfg = join(dir, `${role}.cfg`);
      writeFileSync(cfg, haproxyCfg(addr, admin, c.hosts));
      const check = await runCommand('haproxy', ['-c', '-f', cfg]);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      c.net.spawn(role, ['haproxy', '-db', '-f', cfg], { stdio: 'ignore' });
    }
    writeHookConfig(conf(), {
      haproxy_sockets: sockets.join(' '),
      write_backend: 'mysql_write',
      read_backend: 'mysql_read',
      verify_address: `${c.net.address('proxy')}:3306`,
      server_state_file: join(dir, 'haproxy-state'),
    });
    // Both instances up, db1 taking the writes.
    const deadline = Date.now() + 30_000;
    let ok = false;
    while (Date.now() < deadline && !ok) {
      const st = await Promise.all(sockets.map((s) => state(s, 'mysql_write')));
      ok = st.every((s) => s.db1?.op === 2);
      if (!ok) await sleep(300);
    }
    expect(ok, 'both HAProxy instances see db1 up').toBe(true);
    const status = await runHookIn(c.net, hookPath('mha-haproxy'), {
      config: conf(),
      command: 'status',
      ssh_user: 'root',
      orig_master_host: c.hosts[0],
      orig_master_ip: c.hosts[0],
      orig_master_port: 3306,
    });
    expect(status.code, status.stdout).toBe(0);
    expect(await readers()).toEqual([2, 3]);
  }, 300_000);

  afterAll(async () => {
    await c?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('dead-master failover: writes go to the new master on every instance, reads to the replicas', {
    timeout: 400_000,
  }, async () => {
    const m = await failoverScenario(c, { host: c.net.address('proxy'), port: 3306 }, 'db1');
    console.log(describeMove('haproxy', 'failover', m));
    expect(m.newRole).toBe('db2');
    for (const s of sockets) {
      expect(await enabled(s, 'mysql_write')).toEqual(['db2']);
      expect(await enabled(s, 'mysql_read')).toEqual(['db3']);
    }
    expect(await readers()).toEqual([3]);
    expect(existsSync(join(dir, 'haproxy-state'))).toBe(true);
  });

  it('online switch: writes follow the master to db3, the orig master joins the read pool', {
    timeout: 400_000,
  }, async () => {
    const m = await switchScenario(c, { host: c.net.address('proxy'), port: 3306 }, 'db2', 'db3');
    console.log(describeMove('haproxy', 'switch', m));
    if (process.env.HOOK_DEBUG) console.log(m.output);
    for (const s of sockets) {
      expect(await enabled(s, 'mysql_write')).toEqual(['db3']);
      expect(await enabled(s, 'mysql_read')).toEqual(['db2']);
    }
    // db2 is up in HAProxy's eyes once its check passed again.
    const deadline = Date.now() + 20_000;
    let r = await readers();
    while (Date.now() < deadline && r.join() !== '2') {
      await sleep(500);
      r = await readers();
    }
    expect(r).toEqual([2]);
  });

  it('start is idempotent, and refuses a new master HAProxy does not know', async () => {
    const args = {
      config: conf(),
      command: 'start',
      ssh_user: 'root',
      orig_master_host: c.hosts[1],
      orig_master_ip: c.hosts[1],
      orig_master_port: 3306,
      new_master_host: c.hosts[2],
      new_master_ip: c.hosts[2],
      new_master_port: 3306,
      new_master_user: 'root',
    };
    const again = await runHookIn(c.net, hookPath('mha-haproxy'), args, { MHA_NEW_MASTER_PASSWORD: c.rootPassword });
    expect(again.code, again.stdout).toBe(0);
    for (const s of sockets) expect(await enabled(s, 'mysql_write')).toEqual(['db3']);
    const unknown = await runHookIn(
      c.net,
      hookPath('mha-haproxy'),
      { ...args, new_master_host: '10.200.0.99', new_master_ip: '10.200.0.99' },
      { MHA_NEW_MASTER_PASSWORD: c.rootPassword },
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('is not a server of mysql_write');
    for (const s of sockets) expect(await enabled(s, 'mysql_write')).toEqual(['db3']);
  });
});
