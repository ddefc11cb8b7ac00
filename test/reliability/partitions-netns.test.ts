/**
 * Issue 9, part 2: partitions made with network namespaces and veth pairs.
 *
 * Every host — the manager, db1 (master), db2, db3 — is a namespace `mhap-<pid><x>-<role>`
 * with one veth into a bridge namespace (test/lab/netns-lab.ts), addresses 10.151.0.0/24
 * that exist only inside those namespaces; mariadbd and sshd run inside theirs, and the
 * manager runs as its own process inside the manager's (test/reliability/partition-manager.ts).
 * The test itself talks to the servers over their unix sockets, which no partition cuts.
 *
 * Two kinds of cut, both silent (packets vanish, nobody gets an error — the hard case,
 * where only timeouts tell):
 * - between two hosts only: each gets a permanent neighbour entry for the other with a MAC
 *   nobody has, so their frames to each other are flooded by the bridge and dropped by
 *   every receiver, while both still reach everyone else;
 * - a host from everyone: its veth's bridge end is set down (a pulled cable).
 *
 * The figures of each case are printed as `PARTITION-FIGURES {json}` (and appended to
 * $PARTITION_FIGURES when set) for docs/reliability.md.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverReport } from '../../src/manager/failover.js';
import { StatusFile } from '../../src/manager/status-file.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { type NetnsCluster, netnsAvailable, REPO_ROOT, runCommand, startNetnsCluster } from '../lab/netns-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MANAGER_MAIN = join(REPO_ROOT, 'test/reliability/partition-manager.ts');
/** A MAC no host has: frames sent to it reach nobody. */
const NOWHERE_MAC = '02:00:0a:97:00:fe';

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

function figures(name: string, values: Record<string, unknown>): void {
  const line = JSON.stringify({ case: name, at: new Date().toISOString(), ...values });
  console.log(`PARTITION-FIGURES ${line}`);
  if (process.env.PARTITION_FIGURES) appendFileSync(process.env.PARTITION_FIGURES, `${line}\n`);
}

/** A cluster on its own namespace network, with the manager running inside the manager's namespace. */
class PartitionLab {
  manager: ChildProcess | undefined;
  private managerOutput = '';
  private managerExit: Promise<number> | undefined;
  readonly reportsFile: string;
  readonly powerLog: string;
  /** db1's mysqld as the lab started it: what the power switch may kill. */
  readonly masterPid: number;
  private readonly cuts = new Set<string>();

  private constructor(readonly c: NetnsCluster) {
    this.reportsFile = join(c.dir, 'reports.jsonl');
    this.powerLog = join(c.dir, 'power.log');
    const pid = c.lab.instance('db1').pid;
    if (pid === undefined) throw new Error('db1 has no pid');
    this.masterPid = pid;
  }

  static async start(perServer: string[][], powerSwitch: boolean): Promise<PartitionLab> {
    const c = await startNetnsCluster({
      replicas: 2,
      network: { prefix: 'mhap-', subnet: '10.151.0' },
      // Replicas notice a silent master after slave_net_timeout (heartbeats every 2 s).
      instance: { extraCnf: ['slave_net_timeout=4'] },
      perServer,
      keep: !!process.env.KEEP_LAB,
    });
    const lab = new PartitionLab(c);
    if (powerSwitch) lab.addServerDefault([`shutdown_script=${lab.writePowerSwitch()}`]);
    return lab;
  }

  /** The test's power switch (shutdown_script): kills db1's mysqld by the PID the lab started, checked against its my.cnf. */
  private writePowerSwitch(): string {
    const path = join(this.c.dir, 'power_switch');
    const cnf = this.c.lab.instance('db1').cnfPath;
    const pid = this.masterPid;
    writeFileSync(
      path,
      [
        '#!/bin/sh',
        'cmd=""',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
        'for a in "$@"; do case "$a" in --command=*) cmd="${a#--command=}";; esac; done',
        `echo "$(date +%s%3N) $*" >> '${this.powerLog}'`,
        `if [ -r /proc/${pid}/cmdline ] && tr '\\0' ' ' < /proc/${pid}/cmdline | grep -q -- '${cnf}'; then kill -9 ${pid}; fi`,
        'if [ "$cmd" = stopssh ]; then exit 10; fi',
        'exit 0',
        '',
      ].join('\n'),
    );
    chmodSync(path, 0o755);
    return path;
  }

  private addServerDefault(lines: string[]): void {
    const text = readFileSync(this.c.confFile, 'utf8');
    writeFileSync(this.c.confFile, text.replace('ping_interval=1', ['ping_interval=1', ...lines].join('\n')), {
      mode: 0o600,
    });
  }

  address(role: string): string {
    return this.c.net.address(role);
  }

  serverName(role: string): string {
    const a = this.address(role);
    return `${a}(${a}:3306)`;
  }

  startManager(): void {
    const child = this.c.net.spawn(
      'mgr',
      [process.execPath, '--import', 'tsx', MANAGER_MAIN, this.c.confFile, this.reportsFile],
      {
        env: { ...process.env, TSX_TSCONFIG_PATH: join(REPO_ROOT, 'tsconfig.test.json') },
        cwd: REPO_ROOT,
      },
    );
    const keep = (d: Buffer) => {
      this.managerOutput = (this.managerOutput + d.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.managerExit = new Promise((r) => child.once('exit', (code, signal) => r(code ?? (signal ? 128 : 1))));
    this.manager = child;
  }

  get managerRunning(): boolean {
    return this.manager !== undefined && this.manager.exitCode === null && this.manager.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after 15 s; resolves with the exit code. */
  async stopManager(): Promise<number | undefined> {
    const child = this.manager;
    if (!child || !this.managerExit) return undefined;
    if (this.managerRunning) child.kill('SIGTERM');
    const code = await Promise.race([this.managerExit, sleep(15_000).then(() => undefined)]);
    if (code !== undefined) return code;
    child.kill('SIGKILL');
    return Promise.race([this.managerExit, sleep(5_000).then(() => undefined)]);
  }

  log(): string {
    return existsSync(this.c.managerLog) ? readFileSync(this.c.managerLog, 'utf8') : '';
  }

  count(text: string): number {
    return this.log().split(text).length - 1;
  }

  /** Waits for a manager log line, failing at once (with its output) if the manager exits. */
  async waitLog(text: string | RegExp, timeoutMs: number, from = 0): Promise<void> {
    await waitFor(`manager log: ${text}`, timeoutMs, () => {
      const log = this.log().slice(from);
      if (typeof text === 'string' ? log.includes(text) : text.test(log)) return true;
      if (!this.managerRunning) {
        throw new Error(
          `manager exited (${this.manager?.exitCode}): ${this.managerOutput.slice(-2000)}\n${log.slice(-3000)}`,
        );
      }
      return undefined;
    });
  }

  reports(): FailoverReport[] {
    if (!existsSync(this.reportsFile)) return [];
    return readFileSync(this.reportsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as FailoverReport);
  }

  async status() {
    const dir = this.c.workdir;
    const f = existsSync(dir) ? readdirSync(dir).find((n) => n.endsWith('.master_status.health')) : undefined;
    return f ? StatusFile.read(join(dir, f)) : undefined;
  }

  async readOnly(role: string): Promise<number> {
    const [row] = await this.c.lab.query(role, 'SELECT @@global.read_only AS ro');
    return Number(row.ro);
  }

  /** On a connection of its own: the lab's shared one does not survive a mysqld killed behind its back. */
  async readOnlyFresh(role: string): Promise<number> {
    const conn = await this.c.lab.connect(role);
    try {
      const [rows] = await conn.query('SELECT @@global.read_only AS ro');
      return Number((rows as { ro: unknown }[])[0].ro);
    } finally {
      conn.destroy();
    }
  }

  async replicaOf(role: string): Promise<{ host: string; io: string; ioErrno: number } | undefined> {
    const s = await this.c.lab.slaveStatus(role);
    return s
      ? { host: String(s.Master_Host), io: String(s.Slave_IO_Running), ioErrno: Number(s.Last_IO_Errno ?? 0) }
      : undefined;
  }

  private async ip(args: string[]): Promise<void> {
    const r = await runCommand('ip', args, { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  }

  /** Cuts the path between two hosts only: each sends the other's packets to a MAC nobody has. */
  async cutBetween(a: string, b: string): Promise<void> {
    this.cuts.add(`${a} ${b}`);
    for (const [from, to] of [
      [a, b],
      [b, a],
    ]) {
      await this.ip([
        '-n',
        this.c.net.ns(from),
        'neigh',
        'replace',
        this.address(to),
        'lladdr',
        NOWHERE_MAC,
        'dev',
        'eth0',
        'nud',
        'permanent',
      ]);
    }
  }

  async healBetween(a: string, b: string): Promise<void> {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ]) {
      // The next packet makes the kernel ask by ARP again and learn the real MAC.
      await runCommand('ip', ['-n', this.c.net.ns(from), 'neigh', 'del', this.address(to), 'dev', 'eth0']);
    }
    this.cuts.delete(`${a} ${b}`);
  }

  async isolate(role: string): Promise<void> {
    this.cuts.add(role);
    await this.c.net.setLink(role, false);
  }

  async rejoin(role: string): Promise<void> {
    await this.c.net.setLink(role, true);
    this.cuts.delete(role);
  }

  async healAll(): Promise<void> {
    for (const cut of [...this.cuts]) {
      const [a, b] = cut.split(' ');
      if (b) await this.healBetween(a, b);
      else await this.rejoin(a);
    }
  }

  async close(): Promise<void> {
    await this.stopManager().catch(() => undefined);
    await this.c.close();
  }
}

/** Local clients of db1 (over its socket, as the application account): writes until stopped, each acknowledged one timed. */
function localWriter(lab: PartitionLab) {
  const acked: { t: number; seq: number }[] = [];
  let stopped = false;
  const done = (async () => {
    let seq = 1_000_000;
    let conn: Awaited<ReturnType<typeof createConnection>> | undefined;
    const deadline = Date.now() + 300_000;
    while (!stopped && Date.now() < deadline) {
      try {
        if (!conn) {
          conn = await createConnection({
            socketPath: lab.c.lab.instance('db1').socket,
            user: lab.c.appUser.user,
            password: lab.c.appUser.password,
            connectTimeout: 1000,
          });
          conn.on('error', () => {});
        }
        seq++;
        await conn.query('INSERT INTO app.writes VALUES (?, ?, @@server_id)', [seq, Date.now()]);
        acked.push({ t: Date.now(), seq });
        await sleep(20);
      } catch {
        conn?.destroy();
        conn = undefined;
        await sleep(100);
      }
    }
    conn?.destroy();
  })();
  return {
    acked,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** The power switch's moment, and the first moment a replica was writable, from here every ~30 ms. */
function watchFencing(lab: PartitionLab, replicas: string[]) {
  const seen: { fencedAt?: number; openedAt?: number; opened?: string } = {};
  let stopped = false;
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const done = (async () => {
    const deadline = Date.now() + 300_000;
    while (!stopped && Date.now() < deadline && seen.openedAt === undefined) {
      if (seen.fencedAt === undefined && !alive(lab.masterPid)) seen.fencedAt = Date.now();
      for (const r of replicas) {
        const ro = await lab.readOnly(r).catch(() => 1);
        if (ro === 0 && seen.openedAt === undefined) {
          seen.openedAt = Date.now();
          seen.opened = r;
        }
      }
      await sleep(30);
    }
    if (seen.fencedAt === undefined && !alive(lab.masterPid)) seen.fencedAt = Date.now();
  })();
  return {
    seen,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

const available = netnsAvailable() && mariadbAvailable() && sshdAvailable();

describe.skipIf(!available)(
  'partitions made with network namespaces and veth pairs (real MariaDB, sshd, manager in its own namespace)',
  () => {
    /** Cases 1 and 2: a power switch as shutdown_script. */
    let a: PartitionLab | undefined;
    /** Case 3: db3 is the preferred candidate, and may be lost (ignore_fail). */
    let b: PartitionLab | undefined;
    /** Case 2b: no shutdown_script. */
    let c: PartitionLab | undefined;
    /** Case 3's failover report, for the open finding below. */
    let replicaCutReport: FailoverReport | undefined;

    beforeAll(async () => {
      const [ra, rb, rc] = await Promise.allSettled([
        PartitionLab.start([], true),
        PartitionLab.start([[], [], ['candidate_master=1', 'ignore_fail=1']], false),
        PartitionLab.start([], false),
      ]);
      if (ra.status === 'fulfilled') a = ra.value;
      if (rb.status === 'fulfilled') b = rb.value;
      if (rc.status === 'fulfilled') c = rc.value;
      const failed = [ra, rb, rc].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) throw failed.reason;
      for (const l of [a, b, c]) l?.startManager();
      await Promise.all(
        [a, b, c].map((l) => l?.waitLog("Ping(SELECT) succeeded, waiting until MySQL doesn't respond..", 90_000)),
      );
    }, 240_000);

    afterAll(async () => {
      await Promise.allSettled([a?.close(), b?.close(), c?.close()]);
    }, 120_000);

    it('1. manager cut from the master, replicas still reach it: no failover; status says ping failing; monitoring goes on once healed', {
      timeout: 120_000,
    }, async () => {
      const l = a!;
      const before = { db1: await l.readOnly('db1'), db2: await l.readOnly('db2'), db3: await l.readOnly('db3') };
      expect(before).toEqual({ db1: 0, db2: 1, db3: 1 });
      const logFrom = l.log().length;
      const statuses = new Set<string>();
      let firstFailingAt: number | undefined;
      const tCut = Date.now();
      await l.cutBetween('mgr', 'db1');
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const s = await l.status();
          if (s) {
            statuses.add(s.name);
            if (s.name === 'PING_FAILING' && firstFailingAt === undefined) firstFailingAt = Date.now();
          }
          await sleep(100);
        }
      })();
      try {
        // The master keeps serving and replicating while the manager cannot see it.
        await l.c.lab.query('db1', 'INSERT INTO app.writes VALUES (1, 0, @@server_id)');
        await l.waitLog('unreachable from here but alive', 60_000, logFrom);
        const decidedAt = Date.now();
        // Three rounds of checks at least, and 20 s: long enough for any false alarm to turn into a failover.
        await waitFor('a third round of checks', 60_000, () =>
          l.log().slice(logFrom).split('unreachable from here but alive').length - 1 >= 3 && Date.now() - tCut > 20_000
            ? true
            : undefined,
        );
        for (const r of ['db2', 'db3']) {
          const rows = await l.c.lab.query(r, 'SELECT seq FROM app.writes WHERE seq = 1');
          expect(rows.length, `${r} replicated the write made during the partition`).toBe(1);
          expect(await l.replicaOf(r)).toMatchObject({ host: l.address('db1'), io: 'Yes', ioErrno: 0 });
        }
        const log = l.log().slice(logFrom);
        expect(log).toMatch(/Got error on MySQL ping/);
        expect(log).toContain('I/O thread still connected to the master');
        expect(log).not.toContain('Master is down!');
        expect(log).not.toContain('Starting master failover');
        expect(l.reports()).toEqual([]);
        expect(existsSync(l.powerLog)).toBe(false);
        expect(statuses.has('PING_FAILING') || statuses.has('RETRYING_MONITOR')).toBe(true);
        expect([...statuses].filter((s) => ['PING_FAILED', 'FAILOVER_RUNNING', 'FAILOVER_ERROR'].includes(s))).toEqual(
          [],
        );
        const st = await l.status();
        expect(st?.master).toBe(l.address('db1'));
        expect(['PING_FAILING', 'RETRYING_MONITOR']).toContain(st?.name);
        expect({ db1: await l.readOnly('db1'), db2: await l.readOnly('db2'), db3: await l.readOnly('db3') }).toEqual(
          before,
        );

        const healedFrom = l.log().length;
        const tHeal = Date.now();
        await l.healBetween('mgr', 'db1');
        await l.waitLog("Ping(SELECT) succeeded, waiting until MySQL doesn't respond..", 30_000, healedFrom);
        await waitFor('status PING_OK', 15_000, async () =>
          (await l.status())?.name === 'PING_OK' ? true : undefined,
        );
        const backAt = Date.now();
        expect(l.managerRunning).toBe(true);
        expect(l.reports()).toEqual([]);
        figures('manager-master', {
          falseFailover: l.reports().length > 0,
          pingFailingAfterMs: firstFailingAt === undefined ? null : firstFailingAt - tCut,
          aliveVerdictAfterMs: decidedAt - tCut,
          partitionMs: tHeal - tCut,
          pingOkAgainAfterHealMs: backAt - tHeal,
          statuses: [...statuses],
        });
      } finally {
        sampling = false;
        await sampler;
        await l.healAll();
      }
    });

    it('2. master cut from everyone: failover; the old master is powered off before the new one opens, and made read-only when it comes back', {
      timeout: 150_000,
    }, async () => {
      const l = a!;
      expect(l.managerRunning).toBe(true);
      await waitFor('status PING_OK', 30_000, async () => ((await l.status())?.name === 'PING_OK' ? true : undefined));
      const writer = localWriter(l);
      await waitFor('local writes on db1', 10_000, () => (writer.acked.length > 20 ? true : undefined));
      const fencing = watchFencing(l, ['db2', 'db3']);
      const tCut = Date.now();
      try {
        await l.isolate('db1');
        const report = await waitFor('the failover report', 120_000, () => {
          if (!l.managerRunning) throw new Error(`manager exited: ${l.log().slice(-3000)}`);
          return l.reports()[0];
        });
        await fencing.stop();
        await writer.stop();
        const { seen } = fencing;
        expect(report.exitCode, report.error ?? '').toBe(0);
        const newRole = ['db2', 'db3'].find((r) => report.newMaster === l.serverName(r));
        expect(newRole, `new master ${report.newMaster}`).toBeDefined();
        const other = newRole === 'db2' ? 'db3' : 'db2';

        // Fenced before open: the power switch ran (once, "stop": SSH was unreachable) and the
        // master's mysqld was dead before any replica was writable; it acknowledged nothing after.
        const power = readFileSync(l.powerLog, 'utf8').trim().split('\n');
        expect(power).toHaveLength(1);
        expect(power[0]).toContain('--command=stop ');
        expect(seen.fencedAt, 'old master mysqld killed').toBeDefined();
        expect(seen.openedAt, 'a replica became writable').toBeDefined();
        expect(seen.opened).toBe(newRole);
        expect(seen.fencedAt!).toBeLessThanOrEqual(seen.openedAt!);
        const lastOldAck = writer.acked.at(-1)!.t;
        expect(lastOldAck).toBeLessThan(seen.openedAt!);
        expect(await l.readOnly(newRole!)).toBe(0);
        expect(await l.readOnly(other)).toBe(1);
        expect(await l.replicaOf(other)).toMatchObject({ host: l.address(newRole!), io: 'Yes' });
        // Whatever db1 acknowledged while its replicas were connected survived.
        const settled = writer.acked.filter((w) => w.t < tCut - 1000).map((w) => w.seq);
        const onNew = new Set(
          (await l.c.lab.query(newRole!, 'SELECT seq FROM app.writes WHERE seq > 1000000')).map((r) => Number(r.seq)),
        );
        expect(settled.filter((s) => !onNew.has(s))).toEqual([]);
        const log = l.log();
        expect(log).toContain('Power off done.');
        expect(log).toContain(`Watching old master ${l.serverName('db1')}`);
        // The manager went on monitoring the new master.
        await waitFor('monitoring the new master', 30_000, async () => {
          const s = await l.status();
          return s?.name === 'PING_OK' && s.master === l.address(newRole!) ? true : undefined;
        });

        // Power comes back: mysqld starts writable (nothing in its my.cnf says otherwise),
        // first still cut off, then the cable is plugged back.
        // killInstance of a mysqld already dead only drops the lab's connection to it.
        await l.c.lab.killInstance('db1');
        await l.c.lab.startInstance('db1');
        expect(await l.readOnlyFresh('db1')).toBe(0);
        const tRejoin = Date.now();
        await l.rejoin('db1');
        await waitFor('the old master made read-only', 30_000, async () =>
          (await l.readOnlyFresh('db1').catch(() => 0)) === 1 ? true : undefined,
        );
        const fencedBackAt = Date.now();
        await l.waitLog(`Executed SET GLOBAL read_only=1 on old master ${l.serverName('db1')}: it is fenced.`, 10_000);
        // The application's account can no longer write there.
        const app = await createConnection({
          socketPath: l.c.lab.instance('db1').socket,
          user: l.c.appUser.user,
          password: l.c.appUser.password,
          connectTimeout: 2000,
        });
        try {
          await expect(app.query('INSERT INTO app.writes VALUES (2, 0, @@server_id)')).rejects.toMatchObject({
            errno: 1290,
          });
        } finally {
          app.destroy();
        }
        // Fenced, not repointed: the old master is left for the operator to rebuild or reattach.
        expect(await l.replicaOf('db1')).toBeUndefined();
        expect(l.reports()).toHaveLength(1);
        figures('master-isolated', {
          detectMs: new Date(report.detection!.detectedAt).getTime() - tCut,
          firstPingFailureAfterMs: new Date(report.detection!.firstFailureAt).getTime() - tCut,
          failoverMs: new Date(report.finishedAt).getTime() - new Date(report.startedAt).getTime(),
          fencedBeforeOpen: seen.fencedAt! <= seen.openedAt!,
          poweredOffToOpenMs: seen.openedAt! - seen.fencedAt!,
          lastOldAckToOpenMs: seen.openedAt! - lastOldAck,
          acknowledgedWhileIsolated: writer.acked.filter((w) => w.t >= tCut).length,
          readOnlyAfterRejoinMs: fencedBackAt - tRejoin,
          newMaster: newRole,
        });
      } finally {
        await fencing.stop();
        await writer.stop();
        await l.healAll();
      }
    });

    it('2b. master cut from everyone, no shutdown_script: failover (both writable while cut, as with MHA); once back, the old master is made read-only within seconds', {
      timeout: 150_000,
    }, async () => {
      const l = c!;

      const writer = localWriter(l);

      await waitFor('local writes on db1', 10_000, () => (writer.acked.length > 20 ? true : undefined));

      const opening = watchFencing(l, ['db2', 'db3']);

      const tCut = Date.now();

      try {
        await l.isolate('db1');

        const report = await waitFor('the failover report', 120_000, () => {
          if (!l.managerRunning) throw new Error(`manager exited: ${l.log().slice(-3000)}`);

          return l.reports()[0];
        });

        await opening.stop();

        expect(report.exitCode, report.error ?? '').toBe(0);

        expect(l.log()).toContain('shutdown_script is not set.');

        const openedAt = opening.seen.openedAt!;

        expect(openedAt).toBeDefined();

        // Nothing fenced it: behind the partition it is alive, writable, and its local clients still write.

        expect(opening.seen.fencedAt).toBeUndefined();

        expect(await l.readOnly('db1')).toBe(0);

        const acksBefore = writer.acked.length;

        await waitFor('a local write on the old master after the new one opened', 10_000, () =>
          writer.acked.length > acksBefore ? true : undefined,
        );

        // The manager tries it every few seconds meanwhile: stay cut through a few attempts.

        await sleep(4000);

        expect(await l.readOnly('db1')).toBe(0);

        const tRejoin = Date.now();

        await l.rejoin('db1');

        await waitFor('the old master made read-only', 30_000, async () =>
          (await l.readOnly('db1')) === 1 ? true : undefined,
        );

        const fencedAt = Date.now();

        await l.waitLog(
          `Old master ${l.serverName('db1')} is reachable again and writable (read_only=0): making it read-only`,

          10_000,
        );

        await l.waitLog(`Executed SET GLOBAL read_only=1 on old master ${l.serverName('db1')}: it is fenced.`, 10_000);

        await sleep(500);

        await writer.stop();

        const lastOldAck = writer.acked.at(-1)!.t;

        expect(lastOldAck).toBeLessThanOrEqual(fencedAt);

        expect(await l.replicaOf('db1')).toBeUndefined();

        figures('master-isolated-no-power-switch', {
          detectMs: new Date(report.detection!.detectedAt).getTime() - tCut,

          failoverMs: new Date(report.finishedAt).getTime() - new Date(report.startedAt).getTime(),

          bothWritableMs: fencedAt - openedAt,

          acknowledgedByOldAfterOpen: writer.acked.filter((w) => w.t >= openedAt).length,

          readOnlyAfterRejoinMs: fencedAt - tRejoin,

          lastOldAckBeforeReadOnlyMs: fencedAt - lastOldAck,
        });
      } finally {
        await opening.stop();

        await writer.stop();

        await l.healAll();
      }
    });

    it('3. a replica cut off: not promoted although candidate_master; the failover picks another, lists it under Dead Servers (exit 10) and leaves it not repointed', {
      timeout: 150_000,
    }, async () => {
      const l = b!;
      await l.c.lab.query('db1', 'INSERT INTO app.writes VALUES (10, 0, @@server_id)');
      await l.c.lab.waitForReplicaCatchUp('db3', 'db1', 30_000);
      const tCut = Date.now();
      try {
        await l.isolate('db3');
        // The replica finds out by itself after slave_net_timeout.
        await waitFor('db3 lost its master', 40_000, async () => {
          const r = await l.replicaOf('db3');
          return r && (r.io !== 'Yes' || r.ioErrno !== 0) ? true : undefined;
        });
        const replicaNoticedMs = Date.now() - tCut;
        await l.c.lab.query('db1', 'INSERT INTO app.writes VALUES (11, 0, @@server_id)');
        await l.c.lab.waitForReplicaCatchUp('db2', 'db1', 30_000);
        // Nothing happens while the master is fine.
        expect(l.reports()).toEqual([]);
        expect((await l.status())?.name).toBe('PING_OK');

        const tKill = Date.now();
        await l.c.lab.killInstance('db1');
        const report = await waitFor('the failover report', 120_000, () => {
          if (!l.managerRunning) throw new Error(`manager exited: ${l.log().slice(-3000)}`);
          return l.reports()[0];
        });
        replicaCutReport = report;
        // db2 was promoted although db3 is the candidate; db3 was not changed.
        expect(report.newMaster).toBe(l.serverName('db2'));
        expect(report.exitCode, report.error ?? '').toBe(10);
        expect(report.status).toBe('partially failed');
        expect(report.servers.filter((s) => s.server === l.serverName('db3') && s.status === 'ok')).toEqual([]);
        const log = l.log();
        expect(log).toMatch(
          new RegExp(
            `Dead Servers:\\n[^\\n]*${l.serverName('db1').replace(/[().]/g, '\\$&')}\\n[^\\n]*${l.serverName('db3').replace(/[().]/g, '\\$&')}`,
          ),
        );
        expect(log).toContain(
          `Master failover to ${l.serverName('db2')} done, but recovery on slave partially failed.`,
        );
        expect(await l.readOnly('db2')).toBe(0);
        expect(await l.readOnly('db3')).toBe(1);
        expect((await l.replicaOf('db3'))?.host).toBe(l.address('db1'));
        const rows = await l.c.lab.query('db2', 'SELECT seq FROM app.writes WHERE seq IN (10, 11)');
        expect(rows.length).toBe(2);

        // Back on the network it is still not repointed: it waits for the operator.
        const tRejoin = Date.now();
        await l.rejoin('db3');
        await sleep(4000);
        expect((await l.replicaOf('db3'))?.host).toBe(l.address('db1'));
        expect(await l.readOnly('db3')).toBe(1);
        await waitFor('monitoring the new master', 30_000, async () => {
          const s = await l.status();
          return s?.name === 'PING_OK' && s.master === l.address('db2') ? true : undefined;
        });
        figures('replica-isolated', {
          replicaNoticedMs,
          detectMs: new Date(report.detection!.detectedAt).getTime() - tKill,
          failoverMs: new Date(report.finishedAt).getTime() - new Date(report.startedAt).getTime(),
          exitCode: report.exitCode,
          promoted: 'db2',
          cutReplicaRepointed: (await l.replicaOf('db3'))?.host !== l.address('db1'),
          checkedAfterRejoinMs: Date.now() - tRejoin,
        });
      } finally {
        await l.healAll();
      }
    });

    // Finding M7 (docs/reliability.md), fixed in src/manager/failover.ts: the report of case 3
    // said "recovery on slave partially failed" without naming the replica it could not reach.
    it('M7: the failover report names the cut-off replica as not repointed', () => {
      const b3 = b!.serverName('db3');
      const r = replicaCutReport!;
      expect(r.servers.find((s) => s.server === b3)).toMatchObject({ status: expect.stringMatching(/skipped|failed/) });
      expect(r.lines.join('\n')).toContain(b3);
    });
  },
);
