/**
 * hooks/mha-keepalived with real keepalived (VRRP), MariaDB, the manager and the online
 * switch, on a namespace network. keepalived runs on every database host as the MHA
 * walkthroughs set it up — `state BACKUP` everywhere, `nopreempt`, priorities db1 > db2 >
 * db3 — and MHA prefers db3 (candidate_master), so after the old master's keepalived is
 * stopped VRRP first hands the VIP to db2, and the hook has to move it on to db3. Then an
 * online switch moves master and VIP db3 → db2. An application in its own namespace writes
 * through the VIP all along; never do two hosts hold or answer for the VIP.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { type NetnsCluster, netnsAvailable, startNetnsCluster, VipWatcher } from '../lab/netns-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';
import { hookPath, runHookIn, writeHookConfig } from './hook-helpers.js';
import { describeMove, failoverScenario, switchScenario } from './scenario.js';

const VIP = '10.200.0.100';
const can = netnsAvailable() && sshdAvailable() && mariadbAvailable() && existsSync('/usr/sbin/keepalived');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** keepalived.conf as docs/hooks.md shows it: BACKUP everywhere, nopreempt. */
function keepalivedConf(role: string, priority: number): string {
  return `global_defs {
  router_id ${role}
  vrrp_garp_master_delay 1
  vrrp_garp_master_repeat 3
}
vrrp_instance mysql_vip {
  state BACKUP
  nopreempt
  interface eth0
  virtual_router_id 51
  priority ${priority}
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass mhatest
  }
  virtual_ipaddress {
    ${VIP}/32 dev eth0
  }
}
`;
}

/**
 * What `systemctl start|stop|is-active keepalived` is on a real host, for hosts that are
 * namespaces sharing one file system: the host finds its own keepalived directory by the
 * name of the namespace it runs in.
 */
function controlScript(dir: string): string {
  return `#!/bin/bash
set -u
ns=$(ip netns identify $$)
role=\${ns##*-}
d=${dir}/$role
pid() { cat "$d/keepalived.pid" 2>/dev/null; }
running() { p=$(pid) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
case $1 in
  start)
    running && exit 0
    rm -f "$d"/*.pid
    setsid /usr/sbin/keepalived -n -l -D -f "$d/keepalived.conf" -p "$d/keepalived.pid" -r "$d/vrrp.pid" -c "$d/checkers.pid" \\
      >>"$d/keepalived.log" 2>&1 </dev/null &
    for i in $(seq 100); do running && exit 0; sleep 0.05; done
    echo "keepalived did not start on $role"; exit 1 ;;
  stop)
    running || exit 0
    p=$(pid); kill -TERM "$p"
    for i in $(seq 200); do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.05; done
    echo "keepalived did not stop on $role"; exit 1 ;;
  status) running ;;
  *) exit 2 ;;
esac
`;
}

describe.skipIf(!can)('keepalived hook (mha-keepalived): failover and online switch with a client on the VIP', () => {
  let c: NetnsCluster;
  let dir: string;
  let watcher: VipWatcher;
  let kactl: string;
  const conf = () => join(dir, 'keepalived-hook.conf');

  const kstatus = async (role: string) =>
    (await c.net.run(role, [kactl, 'status'], { timeoutMs: 10_000 })).code === 0 ? 'running' : 'stopped';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mha-kacl-'));
    const hook = `${hookPath('mha-keepalived')} --config=${conf()}`;
    c = await startNetnsCluster({
      perServer: [[], [], ['candidate_master=1']],
      serverDefault: [`master_ip_failover_script=${hook}`, `master_ip_online_change_script=${hook}`],
    });
    const kdir = join(dir, 'keepalived');
    kactl = join(dir, 'kactl');
    writeFileSync(kactl, controlScript(kdir), { mode: 0o755 });
    const priorities = [150, 100, 50];
    c.dbRoles.forEach((role, i) => {
      mkdirSync(join(kdir, role), { recursive: true });
      writeFileSync(join(kdir, role, 'keepalived.conf'), keepalivedConf(role, priorities[i]));
    });
    writeHookConfig(conf(), {
      vip: `${VIP}/32`,
      interface: 'eth0',
      keepalived_hosts: c.hosts.join(' '),
      keepalived_start: `${kactl} start`,
      keepalived_stop: `${kactl} stop`,
      keepalived_status: `${kactl} status`,
      state_dir: join(dir, 'state'),
      ssh_options: c.sshOptions,
      ssh_control_dir: join(dir, 'ssh'),
      remote_state_dir: join(dir, 'remote-state'),
      manager_arp_interface: 'eth0',
      dad_wait_ms: 300,
    });
    // db1 first, so it becomes MASTER; then the others join as BACKUP.
    const r = await c.net.run('db1', [kactl, 'start']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !(await c.net.holders(VIP)).includes('db1')) await sleep(200);
    expect(await c.net.holders(VIP)).toEqual(['db1']);
    for (const role of ['db2', 'db3']) expect((await c.net.run(role, [kactl, 'start'])).code).toBe(0);
    await sleep(3000);
    expect(await c.net.holders(VIP)).toEqual(['db1']);
    const status = await runHookIn(c.net, hookPath('mha-keepalived'), {
      config: conf(),
      command: 'status',
      ssh_user: 'root',
      orig_master_host: c.hosts[0],
      orig_master_ip: c.hosts[0],
      orig_master_port: 3306,
    });
    expect(status.code, status.stdout).toBe(0);
    watcher = new VipWatcher(c.net, VIP);
    watcher.start();
  }, 300_000);

  afterAll(async () => {
    await watcher?.stop();
    if (c && kactl)
      await Promise.allSettled(c.dbRoles.map((r) => c.net.run(r, [kactl, 'stop'], { timeoutMs: 20_000 })));
    await c?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('dead-master failover: keepalived on the old master is stopped, the VIP ends on the chosen new master', {
    timeout: 400_000,
  }, async () => {
    const m = await failoverScenario(c, { host: VIP, port: 3306 }, 'db1');
    console.log(describeMove('keepalived', 'failover', m));
    if (process.env.HOOK_DEBUG)
      console.log(
        readFileSync(c.managerLog, 'utf8')
          .split('\n')
          .filter((l) => l.includes('[mha-') || l.includes('Executing'))
          .join('\n'),
      );
    expect(m.newRole).toBe('db3');
    expect(await c.net.holders(VIP)).toEqual(['db3']);
    const log = readFileSync(c.managerLog, 'utf8');
    expect(log).toContain('keepalived stopped on 10.200.0.11; the VIP is not there');
    // VRRP gave the VIP to db2 (priority 100 > 50); the hook handed it over to db3.
    expect(log).toContain('peer 10.200.0.12 held the VIP: its keepalived stopped, handing the VIP over to 10.200.0.13');
    expect(await kstatus('db1')).toBe('stopped');
    expect(await kstatus('db2')).toBe('running');
    expect(await kstatus('db3')).toBe('running');
  });

  it('online switch: the VIP follows the master to db2; the orig master rejoins as BACKUP', {
    timeout: 400_000,
  }, async () => {
    const m = await switchScenario(c, { host: VIP, port: 3306 }, 'db3', 'db2');
    console.log(describeMove('keepalived', 'switch', m));
    if (process.env.HOOK_DEBUG) console.log(m.output);
    expect(await c.net.holders(VIP)).toEqual(['db2']);
    expect(await kstatus('db2')).toBe('running');
    expect(await kstatus('db3')).toBe('running');
    // nopreempt: db3's keepalived is back and still leaves the VIP on db2.
    await sleep(3000);
    expect(await c.net.holders(VIP)).toEqual(['db2']);
  });

  it('never did two hosts have the VIP or answer ARP for it', async () => {
    await watcher.stop();
    expect(watcher.violations()).toEqual([]);
    expect(watcher.arpProbes.length).toBeGreaterThan(20);
    const macs = watcher.answeringMacs();
    expect(macs[0]).toBe(await c.net.mac('db1'));
    expect(macs).toContain(await c.net.mac('db3'));
  });
});
