/**
 * `mha manager --config-dir` as a real process against two real three-server MariaDB labs
 * (127.0.0.131–.133 and .135–.137, sshd on each): both clusters monitored, files added and
 * removed while it runs, SIGHUP and SIGTERM, the JSON API on real replication values, the
 * bearer token, the CLI on top of it, Prometheus series with values, a planned switch, and
 * a killed master failed over while the topology page (headless Chromium) follows along.
 * One lab pair and one daemon for the whole block: the steps build on each other.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverReport } from '../../src/manager/failover.js';
import type { ClusterSnapshot } from '../../src/service/cluster-supervisor.js';
import type { TopologyView } from '../../src/service/topology-reader.js';
import { runMha } from '../cli-run.js';
import { type ClusterLab, startCluster } from '../lab/cluster-lab.js';
import { mariadbAvailable } from '../lab/mariadb-lab.js';
import { sshdAvailable } from '../lab/sshd-lab.js';
import { api, type DaemonProcess, metricValue, startDaemon, waitFor } from './daemon-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const PORT = 18401;
const TOKEN = 'tok-3f9a1c7e55d2-daemon-test';
const ROOT_PW = 'Alpha-root-pw-5521';
const M = (ip: string) => `${ip}(${ip}:3306)`;

describe.skipIf(!mariadbAvailable() || !sshdAvailable())('mha manager --config-dir on real MariaDB labs', () => {
  let alpha: ClusterLab;
  let beta: ClusterLab;
  let daemon: DaemonProcess;
  let dir: string;
  let confDir: string;
  let tokenFile: string;
  const env = { MHA_API_TOKEN: TOKEN, MHA_API_URL: `http://127.0.0.1:${PORT}` };
  const get = <T>(path: string) => api<T>(`http://127.0.0.1:${PORT}`, path, { token: TOKEN });
  const snapshot = async (name: string) => (await get<ClusterSnapshot>(`/api/clusters/${name}`)).body;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mha-daemon-test-'));
    confDir = join(dir, 'conf.d');
    [alpha, beta] = await Promise.all([
      startCluster({ firstOctet: 131, rootPassword: ROOT_PW }),
      startCluster({ firstOctet: 135 }),
    ]);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(confDir);
    copyFileSync(alpha.confFile, join(confDir, 'alpha.cnf'));
    copyFileSync(beta.confFile, join(confDir, 'beta.cnf'));
    writeFileSync(join(confDir, 'README.txt'), 'not a cluster');
    tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    daemon = startDaemon({
      configDir: confDir,
      port: PORT,
      logFile: join(dir, 'daemon.log'),
      tokenFile,
      extra: ['--rescan-interval', '2', '--topology-interval', '1', '--retry-interval', '1'],
    });
  }, 180_000);

  afterAll(async () => {
    await daemon?.stop(20_000);
    await Promise.allSettled([alpha?.close(), beta?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('monitors every cluster file in the directory, each with its own monitor and manager log', async () => {
    const clusters = await waitFor(
      'both clusters monitored',
      async () => {
        const r = await get<{ clusters: ClusterSnapshot[] }>('/api/clusters');
        const cs = r.body.clusters;
        return cs.length === 2 && cs.every((c) => c.state === 'monitoring' && c.status?.name === 'PING_OK') && cs;
      },
      60_000,
    );
    expect(clusters.map((c) => c.name)).toEqual(['alpha', 'beta']);
    expect(clusters[0].master).toBe(M('127.0.0.131'));
    expect(clusters[0].replicas).toEqual([M('127.0.0.132'), M('127.0.0.133')]);
    expect(clusters[1].master).toBe(M('127.0.0.135'));
    expect(clusters[0].lastPing?.ok).toBe(true);
    // Each keeps writing its MHA-format manager log (operators' scripts grep it).
    expect(readFileSync(alpha.managerLog, 'utf8')).toContain(
      "Ping(SELECT) succeeded, waiting until MySQL doesn't respond..",
    );
    expect(readFileSync(beta.managerLog, 'utf8')).toContain('127.0.0.135(127.0.0.135:3306) (current master)');
    // One child logger per cluster in the daemon's JSON log.
    const lines = daemon.log();
    expect(
      lines.some((l) => l.cluster === 'alpha' && String(l.msg).includes('Starting ping health check on 127.0.0.131')),
    ).toBe(true);
    expect(lines.some((l) => l.cluster === 'beta' && l.msg === 'monitoring the master')).toBe(true);
  });

  it('API: live topology with the replicas’ real replication state, positions and GTIDs; mha status prints the same', async () => {
    await alpha.lab.query('db1', 'CREATE DATABASE IF NOT EXISTS svc');
    await alpha.lab.query('db1', 'CREATE TABLE IF NOT EXISTS svc.t (id INT PRIMARY KEY)');
    await alpha.lab.query('db1', 'INSERT INTO svc.t VALUES (1), (2), (3)');
    await alpha.lab.waitForReplicaCatchUp('db2', 'db1', 20_000);
    await alpha.lab.waitForReplicaCatchUp('db3', 'db1', 20_000);
    const masterPos = await alpha.lab.masterStatus('db1');
    const [g] = await alpha.lab.query('db1', 'SELECT @@global.gtid_binlog_pos AS g');
    const topo = (await get<TopologyView>('/api/clusters/alpha/topology')).body;
    expect(topo.master).toBe(M('127.0.0.131'));
    const byName = new Map(topo.servers.map((s) => [s.name, s]));
    const m = byName.get(M('127.0.0.131'))!;
    expect(m.role).toBe('master');
    expect(m.readOnly).toBe(false);
    expect(m.binlog).toEqual({ file: masterPos.file, pos: masterPos.pos });
    expect(m.gtid?.binlogPos).toBe(String(g.g));
    for (const ip of ['127.0.0.132', '127.0.0.133']) {
      const r = byName.get(M(ip))!;
      expect(r.role).toBe('replica');
      expect(r.parent).toBe(M('127.0.0.131'));
      expect(r.readOnly).toBe(true);
      expect(r.replication).toMatchObject({
        masterHost: '127.0.0.131',
        masterPort: 3306,
        ioRunning: true,
        sqlRunning: true,
        secondsBehindMaster: 0,
        read: { file: masterPos.file, pos: masterPos.pos },
        exec: { file: masterPos.file, pos: masterPos.pos },
      });
      expect(r.gtid?.currentPos).toBe(String(g.g));
    }
    // The CLI asks the same API; the token comes from the environment, never argv.
    const json = await runMha(['status', '--json', '--cluster', 'alpha'], { env });
    expect(json.code, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { clusters: Array<ClusterSnapshot & { topology: TopologyView }> };
    expect(parsed.clusters[0].topology.master).toBe(M('127.0.0.131'));
    expect(parsed.clusters[0].topology.servers.find((s) => s.name === M('127.0.0.132'))?.replication?.ioRunning).toBe(
      true,
    );
    const text = await runMha(['status'], { env });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/alpha: monitoring \(PING_OK\), master 127\.0\.0\.131\(127\.0\.0\.131:3306\)/);
    expect(text.stdout).toMatch(
      /127\.0\.0\.132\(127\.0\.0\.132:3306\) {2}replica of 127\.0\.0\.131\(127\.0\.0\.131:3306\) {2}IO Yes SQL Yes {2}lag 0/,
    );
    expect(text.stdout).toContain('beta: monitoring (PING_OK), master 127.0.0.135(127.0.0.135:3306)');
  });

  it('the token is required (401 without, for the API, the metrics and the CLI); unknown clusters are 404', async () => {
    for (const path of ['/api/clusters', '/api/status', '/metrics', '/api/clusters/alpha/topology']) {
      const r = await api(daemon.url, path);
      expect(r.status, path).toBe(401);
      expect((await api(daemon.url, path, { token: 'wrong-token' })).status).toBe(401);
    }
    expect((await api(daemon.url, '/api/clusters/alpha/ack', { method: 'POST', body: {} })).status).toBe(401);
    // The page itself is static and loads without the token (it asks for one).
    expect((await api(daemon.url, '/')).status).toBe(200);
    const noToken = await runMha(['status'], { env: { MHA_API_URL: daemon.url } });
    expect(noToken.code).not.toBe(0);
    expect(noToken.stderr).toMatch(/401 unauthorized .*--token-file FILE \(mode 0600\) or MHA_API_TOKEN/);
    const withFile = await runMha(['status', '--url', daemon.url, '--token-file', tokenFile]);
    expect(withFile.code, withFile.stderr).toBe(0);
    const unknown = await runMha(['ack', '--cluster', 'nosuch'], { env });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('unknown cluster: nosuch');
    expect((await get('/api/clusters/nosuch')).status).toBe(404);
    const down = await runMha(['status', '--url', 'http://127.0.0.1:18499'], { env: { MHA_API_TOKEN: TOKEN } });
    expect(down.code).toBe(4);
    expect(down.stderr).toMatch(/the mha daemon at http:\/\/127\.0\.0\.1:18499 is not reachable \(ECONNREFUSED\)/);
  });

  it('metrics: ping latency and failures, replica lag and thread state per cluster, with values', async () => {
    const text = await waitFor(
      'ping and lag series',
      async () => {
        const t = (await get<string>('/metrics')).text;
        return (metricValue(t, 'mha_ping_latency_seconds_count', { cluster: 'beta' }) ?? 0) >= 2 &&
          metricValue(t, 'mha_replica_lag_seconds', { cluster: 'alpha', server: M('127.0.0.133') }) !== undefined
          ? t
          : undefined;
      },
      20_000,
    );
    expect(metricValue(text, 'mha_ping_latency_seconds_count', { cluster: 'alpha' })).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, 'mha_ping_latency_seconds_sum', { cluster: 'alpha' })).toBeGreaterThan(0);
    expect(metricValue(text, 'mha_ping_failures_total', { cluster: 'alpha' })).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, 'mha_replica_lag_seconds', { cluster: 'alpha', server: M('127.0.0.132') })).toBe(0);
    expect(metricValue(text, 'mha_replica_io_running', { cluster: 'beta', server: M('127.0.0.137') })).toBe(1);
    expect(metricValue(text, 'mha_replica_sql_running', { cluster: 'beta', server: M('127.0.0.136') })).toBe(1);
    expect(metricValue(text, 'mha_monitor_status_code', { cluster: 'alpha' })).toBe(0);
    expect(metricValue(text, 'mha_failovers_total', { cluster: 'alpha', status: 'succeeded' })).toBe(0);
    expect(text).toContain('# HELP mha_failover_parser_bytes_per_second');
    expect(text).toContain('DERIVED from diff bytes / apply time');
  });

  it('a removed file stops its monitor (and its series), an added one starts; SIGHUP rescans without stopping', async () => {
    const betaConf = join(confDir, 'beta.cnf');
    const saved = readFileSync(betaConf);
    unlinkSync(betaConf);
    const t0 = Date.now();
    await waitFor(
      'beta gone',
      async () => {
        const cs = (await get<{ clusters: ClusterSnapshot[] }>('/api/clusters')).body.clusters;
        return cs.length === 1 && cs[0].name === 'alpha';
      },
      15_000,
    );
    const removedMs = Date.now() - t0;
    const metrics = await waitFor(
      'beta series gone',
      async () => {
        const t = (await get<string>('/metrics')).text;
        return t.includes('cluster="beta"') ? undefined : t;
      },
      10_000,
    );
    expect(metrics).toContain('cluster="alpha"');
    // Its monitor really stopped: the status file went, and the advisory lock is free.
    await waitFor(
      'beta status file removed',
      () => !existsSync(join(beta.workdir, 'beta.master_status.health')),
      10_000,
    );
    const [lock] = await beta.lab.query('db1', "SELECT IS_USED_LOCK('MHA_Master_High_Availability_Monitor') AS h");
    expect(lock.h).toBeNull();

    writeFileSync(betaConf, saved, { mode: 0o600 });
    const t1 = Date.now();
    daemon.child.kill('SIGHUP');
    const back = await waitFor(
      'beta monitored again',
      async () => {
        const s = await snapshot('beta');
        return s?.state === 'monitoring' && s.status?.name === 'PING_OK' && s;
      },
      30_000,
    );
    const addedMs = Date.now() - t1;
    expect(back.master).toBe(M('127.0.0.135'));
    expect(daemon.child.exitCode).toBeNull();
    expect(daemon.log().some((l) => l.msg === 'reload requested: rescanning the configuration directory')).toBe(true);
    // A broken file is a cluster in error, with the reason; the others go on.
    const broken = join(confDir, 'broken.cnf');
    writeFileSync(broken, '[server default]\nping_interval=often\n[server1]\nhostname=127.0.0.139\n', { mode: 0o600 });
    const bad = await waitFor(
      'the broken cluster reported',
      async () => {
        const x = (await get<ClusterSnapshot>('/api/clusters/broken')).body;
        return x?.lastError ? x : undefined;
      },
      15_000,
    );
    expect(bad.state).toBe('retrying');
    expect(bad.lastError).toMatch(/broken\.cnf:2 \[server default\] ping_interval/);
    expect((await snapshot('alpha')).status?.name).toBe('PING_OK');
    unlinkSync(broken);
    await waitFor('broken gone', async () => (await get('/api/clusters/broken')).status === 404, 15_000);
    // A changed file restarts that cluster's monitor only.
    const alphaRuns = (await snapshot('alpha')).monitorRuns;
    const runs = back.monitorRuns;
    writeFileSync(betaConf, `${saved}\n# edited\n`, { mode: 0o600 });
    await waitFor(
      'beta restarted after the edit',
      async () => {
        const s = await snapshot('beta');
        return s.monitorRuns > runs && s.status?.name === 'PING_OK';
      },
      30_000,
    );
    expect((await snapshot('alpha')).monitorRuns).toBe(alphaRuns);
    console.log(
      `[daemon] file removed → cluster gone: ${removedMs} ms; file added + SIGHUP → monitoring: ${addedMs} ms`,
    );
  });

  it('planned switch through the API (mha switch --cluster): new master, write-block window in the metrics', async () => {
    const r = await runMha(
      ['switch', '--cluster', 'beta', '--new-master', '127.0.0.136', '--orig-master-is-new-slave', '--json'],
      { env, timeoutMs: 120_000 },
    );
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const report = JSON.parse(r.stdout) as { status: string; newMaster: string; writeBlock: { ms: number } };
    expect(report.status).toBe('succeeded');
    expect(report.newMaster).toBe(M('127.0.0.136'));
    expect(report.writeBlock.ms).toBeGreaterThan(0);
    const s = await waitFor(
      'beta monitoring the new master',
      async () => {
        const x = await snapshot('beta');
        return x.master === M('127.0.0.136') && x.status?.name === 'PING_OK' && x;
      },
      30_000,
    );
    expect(s.lastSwitch?.writeBlockMs).toBe(report.writeBlock.ms);
    const topo = (await get<TopologyView>('/api/clusters/beta/topology')).body;
    expect(topo.master).toBe(M('127.0.0.136'));
    const orig = topo.servers.find((x) => x.name === M('127.0.0.135'))!;
    expect(orig.replication).toMatchObject({ masterHost: '127.0.0.136', ioRunning: true, sqlRunning: true });
    const metrics = (await get<string>('/metrics')).text;
    expect(metricValue(metrics, 'mha_switch_write_block_seconds_count', { cluster: 'beta' })).toBe(1);
    expect(metricValue(metrics, 'mha_switch_last_write_block_seconds', { cluster: 'beta' })).toBeCloseTo(
      report.writeBlock.ms / 1000,
      6,
    );
    expect(metricValue(metrics, 'mha_switches_total', { cluster: 'beta', status: 'succeeded' })).toBe(1);
    console.log(`[daemon] planned switch via API: writes blocked ${report.writeBlock.ms} ms`);
  });

  it('master killed: the daemon fails over; API, metrics and the page (headless Chromium) show the new master and the report', async () => {
    const userDataDir = mkdtempSync(join(tmpdir(), 'mha-chromium-'));
    const browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      await page.goto(daemon.url, { timeout: 20_000 });
      // The daemon wants a token: the page asks for it.
      await page.locator('#token-form').waitFor({ state: 'visible', timeout: 10_000 });
      await page.fill('#token', TOKEN);
      await page.click('#token-form button');
      const card = page.locator('section.cluster[data-cluster="alpha"]');
      await card.waitFor({ timeout: 10_000 });
      // The three-server lab as a tree: the master, its two replicas below it.
      await expect.poll(async () => card.getAttribute('data-master'), { timeout: 10_000 }).toBe(M('127.0.0.131'));
      const rootNode = card.locator('ul.tree > li > .node.master');
      expect(await rootNode.getAttribute('data-server')).toBe(M('127.0.0.131'));
      const children = card.locator('ul.tree > li > ul > li > .node.replica');
      expect(await children.evaluateAll((ns) => ns.map((n) => n.getAttribute('data-server')))).toEqual([
        M('127.0.0.132'),
        M('127.0.0.133'),
      ]);
      expect(await children.first().textContent()).toMatch(/IO Yes · SQL Yes · lag 0 s/);
      expect(await card.textContent()).toContain('No failover yet.');
      expect(await page.locator('section.cluster[data-cluster="beta"]').getAttribute('data-master')).toBe(
        M('127.0.0.136'),
      );

      // 127.0.0.133 misses the last transactions (I/O thread stopped), so the failover has
      // a real diff to apply to it: the diff and rate series get values.
      await alpha.lab.query('db3', 'STOP SLAVE IO_THREAD');
      for (let i = 0; i < 20; i++) {
        await alpha.lab.query(
          'db1',
          `INSERT INTO svc.t VALUES ${Array.from({ length: 50 }, (_, j) => `(${1000 + i * 50 + j})`).join(',')}`,
        );
      }
      await alpha.lab.waitForReplicaCatchUp('db2', 'db1', 20_000);
      await alpha.lab.killInstance('db1');
      const killedAt = Date.now();
      const after = await waitFor(
        'the API to show a new master',
        async () => {
          const s = await snapshot('alpha');
          return s.master !== M('127.0.0.131') && s.failovers.length === 1 && s;
        },
        90_000,
        100,
      );
      const apiMs = Date.now() - killedAt;
      const newMaster = after.master!;
      expect(newMaster).toBe(M('127.0.0.132'));
      expect(after.failovers[0]).toMatchObject({ deadMaster: M('127.0.0.131'), newMaster, status: 'succeeded' });
      await page.locator(`section.cluster[data-cluster="alpha"] .node.master[data-server="${newMaster}"]`).waitFor({
        timeout: 30_000,
      });
      const pageMs = Date.now() - killedAt;
      expect(await card.locator('.node.dead').getAttribute('data-server')).toBe(M('127.0.0.131'));
      await card.locator('tr.failover').waitFor({ timeout: 10_000 });
      expect(await card.locator('tr.failover').textContent()).toContain(newMaster);

      // The full report, as the failover wrote it to <workdir>/alpha.failover.report.json.
      const reports = (await get<{ failovers: FailoverReport[] }>('/api/clusters/alpha/failovers')).body.failovers;
      expect(reports).toHaveLength(1);
      const onDisk = JSON.parse(
        readFileSync(join(alpha.workdir, 'alpha.failover.report.json'), 'utf8'),
      ) as FailoverReport;
      expect(reports[0].startedAt).toBe(onDisk.startedAt);
      expect(reports[0].newMaster).toBe(newMaster);
      expect(reports[0].phases.map((p) => p.phase)).toEqual(onDisk.phases.map((p) => p.phase));
      expect(reports[0].changeMasterStatement).toMatch(/MASTER_PASSWORD='xxx'/);

      // The monitor goes on with the new master.
      const later = await waitFor(
        'monitoring the new master',
        async () => {
          const s = await snapshot('alpha');
          return s.status?.name === 'PING_OK' && s.state === 'monitoring' && s;
        },
        30_000,
      );
      expect(later.status?.masterHost).toBe(newMaster.replace(/\(.*/, ''));

      const metrics = (await get<string>('/metrics')).text;
      expect(metricValue(metrics, 'mha_failovers_total', { cluster: 'alpha', status: 'succeeded' })).toBe(1);
      expect(metricValue(metrics, 'mha_failover_duration_seconds_count', { cluster: 'alpha' })).toBe(1);
      for (const p of onDisk.phases) {
        expect(
          metricValue(metrics, 'mha_failover_phase_duration_seconds_sum', { cluster: 'alpha', phase: p.phase }),
          p.phase,
        ).toBeCloseTo(p.ms / 1000, 6);
      }
      expect(metricValue(metrics, 'mha_ping_failures_total', { cluster: 'alpha' })).toBeGreaterThanOrEqual(1);
      const diffBytes = onDisk.servers.reduce((a, s) => a + (s.diff?.bytes ?? 0), 0);
      expect(diffBytes).toBeGreaterThan(0);
      expect(metricValue(metrics, 'mha_failover_diff_bytes_applied_total', { cluster: 'alpha' })).toBe(diffBytes);
      const applied = onDisk.servers.find((s) => (s.diff?.bytes ?? 0) > 0 && (s.diff?.applyMs ?? 0) > 0)!;
      expect(applied.server).toContain('127.0.0.133');
      expect(
        metricValue(metrics, 'mha_failover_apply_bytes_per_second', { cluster: 'alpha', server: applied.server }),
      ).toBeCloseTo((applied.diff!.bytes * 1000) / applied.diff!.applyMs!, 3);
      expect(metricValue(metrics, 'mha_failover_parser_bytes_per_second', { cluster: 'alpha' })).toBeGreaterThan(0);
      const rows = await alpha.lab.query('db3', 'SELECT COUNT(*) AS n FROM svc.t');
      expect(Number(rows[0].n)).toBe(1003);

      // The guard: the failover left alpha.failover.complete; ack removes it.
      expect(existsSync(join(alpha.workdir, 'alpha.failover.complete'))).toBe(true);
      const ack = await runMha(['ack', '--cluster', 'alpha'], { env });
      expect(ack.code, ack.stderr).toBe(0);
      expect(ack.stdout).toContain('alpha: failover guard acknowledged; removed');
      expect(existsSync(join(alpha.workdir, 'alpha.failover.complete'))).toBe(false);
      console.log(
        `[daemon] master killed → API shows new master ${newMaster}: ${apiMs} ms; page shows it: ${pageMs} ms; failover phases ${onDisk.phases.map((p) => `${p.phase.replace(/:.*/, '')} ${p.ms} ms`).join(', ')}`,
      );
    } finally {
      await browser.close();
      rmSync(userDataDir, { recursive: true, force: true });
    }
  });

  it('a failover in progress: a changed file waits for it, SIGTERM waits for it; then exit 0 and no secret in the log', async () => {
    // A master_ip_failover_script that takes 3 s on --command=start keeps beta's failover
    // running long enough to act during it.
    const hook = join(dir, 'slow-failover-hook.sh');
    writeFileSync(hook, '#!/bin/sh\ncase "$*" in *--command=start*) sleep 3;; esac\nexit 0\n', { mode: 0o755 });
    const betaConf = join(confDir, 'beta.cnf');
    const before = (await snapshot('beta')).monitorRuns;
    writeFileSync(
      betaConf,
      readFileSync(betaConf, 'utf8').replace('[server default]', `[server default]\nmaster_ip_failover_script=${hook}`),
      { mode: 0o600 },
    );
    await waitFor(
      'beta restarted with the hook',
      async () => {
        const x = await snapshot('beta');
        return x.monitorRuns > before && x.status?.name === 'PING_OK' && x.master === M('127.0.0.136');
      },
      30_000,
    );
    const runs = (await snapshot('beta')).monitorRuns;
    await beta.lab.killInstance('db2');
    await waitFor('beta failover running', async () => (await snapshot('beta')).state === 'failover', 30_000, 50);
    writeFileSync(betaConf, `${readFileSync(betaConf, 'utf8')}\n# edited during the failover\n`, { mode: 0o600 });
    await waitFor(
      'the edit noticed',
      () =>
        daemon
          .log()
          .some(
            (l) => l.cluster === 'beta' && String(l.msg).includes('restarts once the running failover is finished'),
          ),
      10_000,
      50,
    );
    const mid = await snapshot('beta');
    expect(mid.state).toBe('failover');
    expect(mid.monitorRuns).toBe(runs);

    const t0 = Date.now();
    daemon.child.kill('SIGTERM');
    const exit = await Promise.race([
      daemon.exited,
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('daemon did not stop in 60 s')), 60_000)),
    ]);
    const stopMs = Date.now() - t0;
    expect(exit.code).toBe(0);
    // The failover finished before the daemon went: its report is complete.
    const report = JSON.parse(readFileSync(join(beta.workdir, 'beta.failover.report.json'), 'utf8')) as FailoverReport;
    expect(report.deadMaster).toBe(M('127.0.0.136'));
    expect(report.status).toBe('succeeded');
    const lines = daemon.log();
    const msgs = lines.map((l) => `${l.cluster ?? ''}:${l.msg}`);
    const finished = msgs.indexOf('beta:failover finished');
    expect(finished).toBeGreaterThan(msgs.indexOf(':stop requested'));
    expect(msgs.indexOf(':daemon stopped')).toBeGreaterThan(finished);
    expect(msgs.at(-1)).toBe(':daemon stopped');
    expect(lines.find((l) => l.msg === 'shutting down')?.waitingForFailovers).toEqual(['beta']);
    expect(existsSync(join(alpha.workdir, 'alpha.master_status.health'))).toBe(false);
    expect(existsSync(join(beta.workdir, 'beta.master_status.health'))).toBe(false);
    await expect(api(daemon.url, '/api/clusters', { token: TOKEN })).rejects.toThrow();
    const raw = readFileSync(daemon.logFile, 'utf8') + daemon.output();
    for (const secret of [ROOT_PW, TOKEN, alpha.lab.replicationUser.password, beta.lab.replicationUser.password]) {
      expect(raw).not.toContain(secret);
    }
    console.log(`[daemon] SIGTERM during a failover → exit after it finished: ${stopMs} ms`);
  });
});
