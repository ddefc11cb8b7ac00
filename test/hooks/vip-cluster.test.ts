/**
 * hooks/mha-vip with real MariaDB servers, the manager and the online switch, on a
 * namespace network: an application in its own namespace writes through the VIP; the
 * master is killed and the manager fails over (the VIP moves db1 → db2), then an online
 * switch moves it db2 → db3. Never do two hosts have the VIP or answer ARP for it; the
 * client's write-block window is measured.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { type NetnsCluster, netnsAvailable, startNetnsCluster, VipWatcher } from '../lab/netns-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';
import { hookPath, runHookIn, writeHookConfig } from './hook-helpers.js';
import { describeMove, failoverScenario, switchScenario } from './scenario.js';

const VIP = '10.200.0.100';
const can = netnsAvailable() && sshdAvailable() && mariadbAvailable();

describe.skipIf(!can)('VIP hook (mha-vip): failover and online switch with a client on the VIP', () => {
  let c: NetnsCluster;
  let dir: string;
  let watcher: VipWatcher;
  const conf = () => join(dir, 'vip.conf');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mha-vipcl-'));
    const hook = `${hookPath('mha-vip')} --config=${join(dir, 'vip.conf')}`;
    c = await startNetnsCluster({
      perServer: [[], ['candidate_master=1'], []],
      serverDefault: [`master_ip_failover_script=${hook}`, `master_ip_online_change_script=${hook}`],
    });
    writeHookConfig(conf(), {
      vip: `${VIP}/32`,
      interface: 'eth0',
      ssh_options: c.sshOptions,
      manager_arp_interface: 'eth0',
      dad_wait_ms: 300,
      // Test networks in parallel reuse addresses: SSH connections must not be shared between them.
      ssh_control_dir: join(dir, 'ssh'),
      remote_state_dir: join(dir, 'remote-state'),
    });
    // The operator's first step: the VIP on the current master, with the hook itself.
    const up = await runHookIn(
      c.net,
      hookPath('mha-vip'),
      {
        config: conf(),
        command: 'start',
        new_master_host: c.hosts[0],
        new_master_ip: c.hosts[0],
        new_master_port: 3306,
        new_master_user: 'root',
      },
      { MHA_NEW_MASTER_PASSWORD: c.rootPassword },
    );
    expect(up.code, up.stdout).toBe(0);
    const status = await runHookIn(c.net, hookPath('mha-vip'), {
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
    await c?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('dead-master failover: the VIP moves to the new master, the client follows it', { timeout: 400_000 }, async () => {
    const m = await failoverScenario(c, { host: VIP, port: 3306 }, 'db1');
    console.log(describeMove('vip', 'failover', m));
    expect(m.newRole).toBe('db2');
    expect(await c.net.holders(VIP)).toEqual(['db2']);
    expect(m.output + readFileSync(c.managerLog, 'utf8')).toContain(
      'verified: 10.200.0.100:3306 is served by the new master',
    );
  });

  it('online switch: the VIP moves with the master, the client follows it', { timeout: 400_000 }, async () => {
    const m = await switchScenario(c, { host: VIP, port: 3306 }, 'db2', 'db3');
    console.log(describeMove('vip', 'switch', m));
    if (process.env.HOOK_DEBUG) console.log(m.output);
    expect(await c.net.holders(VIP)).toEqual(['db3']);
  });

  it('master host cut off (SSH unreachable): stop relies on shutdown_script, start takes the VIP once the host is fenced', {
    timeout: 400_000,
  }, async () => {
    // A shutdown_script that "powers off" a host: its interface goes down, what ran on it stops.
    const script = join(dir, 'power-off');
    const cases = c.dbRoles.map((r, i) => `    ${c.hosts[i]}) ns=${c.net.ns(r)} ;;`).join('\n');
    writeFileSync(
      script,
      `#!/bin/bash
for a in "$@"; do case $a in --command=*) cmd=\${a#*=} ;; --host=*) host=\${a#*=} ;; esac; done
[ "$cmd" = status ] && exit 0
case $host in
${cases}
    *) echo "unknown host $host"; exit 1 ;;
esac
ip -n "$ns" link set eth0 down
for p in $(ip netns pids "$ns"); do kill -KILL "$p" 2>/dev/null; done
echo "powered off $host"
exit 0
`,
      { mode: 0o755 },
    );
    const cnf = readFileSync(c.confFile, 'utf8').replace(
      '[server default]\n',
      `[server default]\nshutdown_script=${script}\n`,
    );
    writeFileSync(c.confFile, cnf);
    // The replica must notice a silent master within seconds, not slave_net_timeout's minute.
    // (A connection of its own: the switch killed the lab's shared session on the old master.)
    const db2 = await c.lab.connect('db2');
    try {
      for (const sql of [
        'STOP SLAVE',
        'SET GLOBAL slave_net_timeout=4',
        'CHANGE MASTER TO MASTER_HEARTBEAT_PERIOD=1',
        'START SLAVE',
      ])
        await db2.query(sql);
    } finally {
      await db2.end();
    }
    // A second automatic failover right after the first: the operator clears MHA's guard.
    rmSync(join(c.workdir, 'app1.failover.complete'), { force: true });
    const m = await failoverScenario(c, { host: VIP, port: 3306 }, 'db3', () => c.net.setLink('db3', false), false);
    console.log(describeMove('vip', 'failover (host cut off)', m));
    expect(m.newRole).toBe('db2');
    const log = readFileSync(c.managerLog, 'utf8');
    expect(log).toContain('--command=stop --orig_master_host=10.200.0.13');
    expect(log).toContain('Relying on shutdown_script (power fencing)');
    expect(log).toContain('master_ip_failover_script returned 10. Proceeding.');
    expect(log).toContain('powered off 10.200.0.13');
    expect(await c.net.holders(VIP)).toEqual(['db2']);
  });

  it('never did two hosts have the VIP or answer ARP for it', async () => {
    await watcher.stop();
    expect(watcher.violations()).toEqual([]);
    expect(watcher.arpProbes.length).toBeGreaterThan(20);
    expect(watcher.answeringMacs()).toEqual([await c.net.mac('db1'), await c.net.mac('db2'), await c.net.mac('db3')]);
  });
});
