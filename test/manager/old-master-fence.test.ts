import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type ServerConfig } from '../../src/manager/config/index.js';
import type { FailoverReport } from '../../src/manager/failover.js';
import { ManagerLog } from '../../src/manager/log.js';
import { fenceOldMasterWhenBack, fenceStatements, OldMasterFences } from '../../src/manager/old-master-fence.js';
import { type MariaDbLab, mariadbAvailable, startLab } from '../lab/mariadb-lab.js';

// 127.0.0.151–.159 belong to the partition tests (docs/reliability.md); .152 has nothing listening.
const HOST = '127.0.0.151';
const NOBODY = '127.0.0.152';
const PASSWORD = 'fence-root-pass';

describe('fenceStatements', () => {
  it('sets super_read_only where it exists (MySQL ≥ 5.7.8), read_only alone elsewhere', () => {
    expect(fenceStatements({ superReadOnly: false })).toEqual(['SET GLOBAL read_only=1']);
    expect(fenceStatements({ superReadOnly: true })).toEqual([
      'SET GLOBAL read_only=1',
      'SET GLOBAL super_read_only=1',
    ]);
  });
});

describe.skipIf(!mariadbAvailable())('an old master made read-only when it comes back (real MariaDB)', () => {
  let lab: MariaDbLab;
  let dir: string;
  let oldMaster: ServerConfig;
  let unreachable: ServerConfig;
  let logFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mha-fence-'));
    chmodSync(dir, 0o711); // mariadbd runs as mysql and must reach its datadir below
    lab = await startLab([{ name: 'old', host: HOST, port: 3306, serverId: 1 }], {
      baseDir: join(dir, 'servers'),
      rootPassword: PASSWORD,
    });
    const conf = join(dir, 'app1.cnf');
    logFile = join(dir, 'manager.log');
    writeFileSync(
      conf,
      [
        '[server default]',
        'user=root',
        `password=${PASSWORD}`,
        `manager_workdir=${join(dir, 'work')}`,
        `manager_log=${logFile}`,
        '[server1]',
        `hostname=${HOST}`,
        'port=3306',
        '[server2]',
        `hostname=${NOBODY}`,
        'port=3306',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const config = loadConfig({ appFile: conf, globalFile: null });
    oldMaster = config.servers[0];
    unreachable = config.servers[1];
  }, 120_000);

  afterAll(async () => {
    await lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const readOnly = async () => Number((await lab.query('old', 'SELECT @@global.read_only AS ro'))[0].ro);
  const newLog = () => new ManagerLog(logFile, 'debug');

  it('a reachable, writable old master is made read-only at the first attempt', async () => {
    await lab.query('old', 'SET GLOBAL read_only=0');
    const log = newLog();
    const r = await fenceOldMasterWhenBack({ server: oldMaster, log, untilMs: Date.now() + 10_000 });
    expect(r).toMatchObject({ result: 'fenced', attempts: 1, statements: ['SET GLOBAL read_only=1'] });
    expect(await readOnly()).toBe(1);
    expect(log.records.map((x) => x.msg).join('\n')).toMatch(
      /reachable again and writable \(read_only=0\)[\s\S]*Executed SET GLOBAL read_only=1 on old master 127\.0\.0\.151/,
    );
  });

  it('an old master already read-only is left alone', async () => {
    await lab.query('old', 'SET GLOBAL read_only=1');
    const r = await fenceOldMasterWhenBack({ server: oldMaster, log: newLog(), untilMs: Date.now() + 10_000 });
    expect(r).toMatchObject({ result: 'already-read-only', attempts: 1 });
  });

  it('an old master that is down is tried again until it is back (restarted writable), then fenced', {
    timeout: 90_000,
  }, async () => {
    await lab.stopInstance('old');
    const log = newLog();
    const started = Date.now();
    const fencing = fenceOldMasterWhenBack({
      server: oldMaster,
      log,
      untilMs: Date.now() + 60_000,
      intervalMs: 300,
    });
    await new Promise((r) => setTimeout(r, 1500));
    // A restart reads my.cnf, which has no read_only: it comes back writable, as a real master would.
    await lab.startInstance('old');
    const r = await fencing;
    expect(r.result).toBe('fenced');
    expect(r.attempts).toBeGreaterThan(1);
    expect(await readOnly()).toBe(1);
    const text = log.records.map((x) => x.msg).join('\n');
    expect(text).toMatch(
      /Old master 127\.0\.0\.151\(127\.0\.0\.151:3306\) is not reachable .*trying again every 0\.3s/,
    );
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('gives up at untilMs when the old master never comes back, and says what to do', async () => {
    const log = newLog();
    const started = Date.now();
    const r = await fenceOldMasterWhenBack({ server: unreachable, log, untilMs: Date.now() + 1500, intervalMs: 300 });
    expect(r.result).toBe('gave-up');
    expect(r.attempts).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(log.records.at(-1)?.msg).toMatch(/Gave up making old master 127\.0\.0\.152.*set read_only=1 on it/);
  });

  it('stops at once when aborted', async () => {
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 400);
    const r = await fenceOldMasterWhenBack({
      server: unreachable,
      log: newLog(),
      signal: ac.signal,
      untilMs: Date.now() + 60_000,
      intervalMs: 5000,
    });
    expect(r.result).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a manager action that is refused (manager HA lease lost) changes nothing, and it is asked again later', async () => {
    await lab.query('old', 'SET GLOBAL read_only=0');
    let asked = 0;
    const r = await fenceOldMasterWhenBack({
      server: oldMaster,
      log: newLog(),
      untilMs: Date.now() + 10_000,
      intervalMs: 200,
      beforeAction: async () => {
        asked++;
        if (asked < 3) throw new Error('not the leader');
      },
    });
    expect(r).toMatchObject({ result: 'fenced', attempts: 3 });
    expect(asked).toBe(3);
    expect(await readOnly()).toBe(1);
  });

  it('OldMasterFences: watches after a failover that opened a new master, not after a failed one nor in one-shot mode', async () => {
    await lab.query('old', 'SET GLOBAL read_only=0');
    const log = newLog();
    const fences = new OldMasterFences(log, { windowMs: 20_000 });
    const report = { exitCode: 0, newMaster: 'db2(10.151.0.12:3306)' } as FailoverReport;
    fences.afterFailover(oldMaster, { ...report, exitCode: 1 } as FailoverReport, false);
    fences.afterFailover(oldMaster, report, true);
    await new Promise((r) => setTimeout(r, 300));
    expect(await readOnly()).toBe(0);
    expect(log.records.map((x) => x.msg).join('\n')).toMatch(/Not watching old master .* \(exit after failover\)/);
    fences.afterFailover(oldMaster, report, false);
    const deadline = Date.now() + 10_000;
    while ((await readOnly()) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await readOnly()).toBe(1);
    await fences.stop();
    expect(readFileSync(logFile, 'utf8')).not.toContain(PASSWORD);
  });
});
