/**
 * hooks/mha-vip on its own, on a namespace network (no MariaDB: verify = none, the checks
 * are ARP and `ip addr`): the MHA contract of each command, idempotence, and the refusals
 * that keep two hosts from answering for the VIP.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsNetwork, netnsAvailable } from '../lab/netns-lab.js';
import { type SshdLab, sshdAvailable, startSshd } from '../lab/sshd-lab.js';
import { hookPath, runHookIn, writeHookConfig } from './hook-helpers.js';

const VIP = '10.200.0.100';
const can = netnsAvailable() && sshdAvailable();

describe.skipIf(!can)('mha-vip hook contract on a namespace network', () => {
  let net: NetnsNetwork;
  let dir: string;
  let conf: string;
  const sshds: SshdLab[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mha-viphook-'));
    net = await NetnsNetwork.create();
    await net.addHost('mgr', 2);
    await net.addHost('db1', 11);
    await net.addHost('db2', 12);
    const first = await startSshd({ addresses: [net.address('db1')], netns: net.ns('db1') });
    sshds.push(first);
    const pub = (await readFile(`${first.identityFile}.pub`, 'utf8')).trim();
    sshds.push(await startSshd({ addresses: [net.address('db2')], netns: net.ns('db2'), authorizedKeys: [pub] }));
    const known = join(dir, 'known_hosts');
    writeFileSync(known, sshds.map((s) => readFileSync(s.knownHostsFile, 'utf8')).join(''));
    conf = writeHookConfig(join(dir, 'vip.conf'), {
      vip: `${VIP}/32`,
      interface: 'auto',
      ssh_options: `-i ${first.identityFile} -o UserKnownHostsFile=${known} -o StrictHostKeyChecking=yes`,
      verify: 'none',
      manager_arp_interface: 'eth0',
      dad_wait_ms: 300,
      // Test networks in parallel reuse addresses: SSH connections must not be shared between them.
      ssh_control_dir: join(dir, 'ssh'),
      remote_state_dir: join(dir, 'remote-state'),
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(sshds.map((s) => s.stop()));
    await net?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const orig = (role: string) => ({
    orig_master_host: net.address(role),
    orig_master_ip: net.address(role),
    orig_master_port: 3306,
  });
  const neu = (role: string) => ({
    new_master_host: net.address(role),
    new_master_ip: net.address(role),
    new_master_port: 3306,
    new_master_user: 'root',
    new_master_password: 'xxx',
  });

  it('start brings the VIP up on the new master, answers ARP with its MAC, and is idempotent', async () => {
    const r = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'start',
      ssh_user: 'root',
      ...orig('db2'),
      ...neu('db1'),
    });
    expect(r.stdout).toContain('added on');
    expect(r.code, r.stdout).toBe(0);
    expect(await net.holders(VIP)).toEqual(['db1']);
    expect(r.stdout).toContain(`only the new master (${await net.mac('db1')}) answers`);
    const again = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'start',
      ssh_user: 'root',
      ...orig('db2'),
      ...neu('db1'),
    });
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('already present');
    expect(await net.holders(VIP)).toEqual(['db1']);
  });

  it('status: 0 when the VIP is on the orig master, 1 when it is not', async () => {
    const ok = await runHookIn(net, hookPath('mha-vip'), { config: conf, command: 'status', ...orig('db1') });
    expect(ok.code, ok.stdout).toBe(0);
    const bad = await runHookIn(net, hookPath('mha-vip'), { config: conf, command: 'status', ...orig('db2') });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('is not configured on the orig master');
  });

  it('start refuses while another host still answers for the VIP (not fenced), and leaves it alone', async () => {
    // db1 holds the VIP; nobody removed it: taking it on db2 would make two hosts answer.
    const r = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'start',
      ssh_user: 'root',
      ...orig('db1'),
      ...neu('db2'),
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('someone else still answers ARP');
    expect(r.stdout).toContain(await net.mac('db1'));
    expect(await net.holders(VIP)).toEqual(['db1']);
  });

  it('failover: stopssh removes the VIP from the orig master (twice is fine), start moves it', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await runHookIn(net, hookPath('mha-vip'), {
        config: conf,
        command: 'stopssh',
        ssh_user: 'root',
        ...orig('db1'),
      });
      expect(r.code, r.stdout).toBe(0);
      expect(await net.holders(VIP)).toEqual([]);
    }
    const r = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'start',
      ssh_user: 'root',
      ...orig('db1'),
      ...neu('db2'),
    });
    expect(r.code, r.stdout).toBe(0);
    expect(await net.holders(VIP)).toEqual(['db2']);
  });

  it('failover with the orig master unreachable: stop exits 10 (fencing is up to shutdown_script); start proceeds only once the host is cut off', async () => {
    // db2 holds the VIP and becomes the "dead" master; its SSH is unreachable from here.
    const stop = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'stop',
      ssh_user: 'root',
      ...orig('db2'),
    });
    expect(stop.code).toBe(10);
    expect(stop.stdout).toContain('Relying on shutdown_script');
    // Not fenced yet: db2 still answers for the VIP, so db1 must not take it.
    const refused = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'start',
      ssh_user: 'root',
      ...orig('db2'),
      ...neu('db1'),
    });
    expect(refused.code).toBe(1);
    expect(await net.holders(VIP)).toEqual(['db2']);
    // Fenced (power off = off the segment): now the VIP may move.
    await net.setLink('db2', false);
    try {
      const r = await runHookIn(net, hookPath('mha-vip'), {
        config: conf,
        command: 'start',
        ssh_user: 'root',
        ...orig('db2'),
        ...neu('db1'),
      });
      expect(r.code, r.stdout).toBe(0);
    } finally {
      await net.setLink('db2', true);
    }
    // Clean up the stale address on the "revived" host (what an operator does before rejoining it).
    const clean = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'stopssh',
      ssh_user: 'root',
      ...orig('db2'),
    });
    expect(clean.code, clean.stdout).toBe(0);
    expect(await net.holders(VIP)).toEqual(['db1']);
  });

  it('online switch: stop removes the VIP from the orig master, start brings it up on the new one', async () => {
    const online = {
      orig_master_user: 'root',
      orig_master_password: 'xxx',
      orig_master_ssh_user: 'root',
      new_master_ssh_user: 'root',
      orig_master_is_new_slave: true,
    };
    const stop = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'stop',
      ...online,
      ...orig('db1'),
      ...neu('db2'),
    });
    expect(stop.code, stop.stdout).toBe(0);
    expect(await net.holders(VIP)).toEqual([]);
    const start = await runHookIn(net, hookPath('mha-vip'), {
      config: conf,
      command: 'start',
      ...online,
      ...orig('db1'),
      ...neu('db2'),
    });
    expect(start.code, start.stdout).toBe(0);
    expect(await net.holders(VIP)).toEqual(['db2']);
  });

  it('moving the VIP straight back: the old holder stops announcing it (its gratuitous ARP senders end with the VIP)', async () => {
    // db2 holds the VIP (previous test). Take it to db1 and at once back to db2, while db1's
    // gratuitous ARP senders (3 s) would still be announcing it.
    const online = { orig_master_user: 'root', orig_master_ssh_user: 'root', new_master_ssh_user: 'root' };
    const move = async (from: string, to: string) => {
      for (const command of ['stop', 'start']) {
        const r = await runHookIn(net, hookPath('mha-vip'), {
          config: conf,
          command,
          ...online,
          ...orig(from),
          ...neu(to),
        });
        expect(r.code, r.stdout).toBe(0);
      }
    };
    await move('db2', 'db1');
    const arpingsOn = async (role: string) => {
      const pids = (await net.run(role, ['ip', 'netns', 'pids', net.ns(role)])).stdout.split(/\s+/).filter(Boolean);
      const cmds = pids.map((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
        } catch {
          return '';
        }
      });
      return cmds.filter((c) => c.startsWith('arping') && c.includes(VIP));
    };
    expect((await arpingsOn('db1')).length).toBeGreaterThan(0);
    await move('db1', 'db2');
    expect(await arpingsOn('db1')).toEqual([]);
    expect(await net.holders(VIP)).toEqual(['db2']);
  });

  it('rejects a config with an unknown setting and a missing --command', async () => {
    const bad = writeHookConfig(join(dir, 'bad.conf'), { vip: VIP, intreface: 'eth0' });
    const r = await runHookIn(net, hookPath('mha-vip'), { config: bad, command: 'status', ...orig('db1') });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("unknown setting 'intreface'");
    const r2 = await runHookIn(net, hookPath('mha-vip'), { config: conf, ...orig('db1') });
    expect(r2.code).toBe(1);
    expect(r2.stdout).toContain('missing --command');
  });
});
