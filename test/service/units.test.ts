/**
 * The daemon's parts without servers: the secret-masking logger, the configuration
 * directory scan, token files, the metrics from a failover report, the API's auth and
 * the CLI's errors when the daemon is not there.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FailoverReport } from '../../src/manager/failover.js';
import { ApiClient, ApiError } from '../../src/service/api-client.js';
import { parseHostPort, startApiServer } from '../../src/service/api-server.js';
import { ConfigDirWatcher, diffScans, scanConfigDir } from '../../src/service/config-dir-watcher.js';
import { createDaemonLogger, parseManagerLine, SecretSet } from '../../src/service/logger.js';
import { DaemonMetrics } from '../../src/service/metrics.js';
import { readTokenFile, TokenError } from '../../src/service/token.js';
import { metricValue, waitFor } from './daemon-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mha-service-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('daemon logger', () => {
  it('masks known passwords and tokens in messages, fields and errors; one child per cluster', () => {
    const file = join(dir, 'log.json');
    const secrets = new SecretSet();
    secrets.add('Sup3r-Secret-pw');
    secrets.add('tok-123456');
    const log = createDaemonLogger({ file, secrets });
    const child = log.child({ cluster: 'app1' });
    child.info('connecting with Sup3r-Secret-pw now');
    child.warn({ detail: 'header Bearer tok-123456', password: 'anything', nested: { repl_password: 'x1' } }, 'x');
    child.error({ err: new Error('login failed for Sup3r-Secret-pw') }, 'boom');
    child.info("CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='whatever-else'");
    child.info('--password=cli-secret-here was given');
    log.flush();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('Sup3r-Secret-pw');
    expect(text).not.toContain('tok-123456');
    expect(text).not.toContain('anything');
    expect(text).not.toContain('cli-secret-here');
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ cluster: 'app1', level: 'info', msg: 'connecting with xxx now' });
    expect(lines[1]).toMatchObject({ detail: 'header Bearer xxx', password: 'xxx', nested: { repl_password: 'xxx' } });
    expect(JSON.stringify(lines[2])).toContain('login failed for xxx');
  });

  it('reads MHA manager-log lines back into level and message', () => {
    expect(parseManagerLine('Tue Nov 24 23:41:26 2026 - [warning] Master is down\n')).toEqual({
      level: 'warn',
      msg: 'Master is down',
    });
    expect(parseManagerLine('Tue Nov  4 03:01:02 2026 - [info] x')).toEqual({ level: 'info', msg: 'x' });
    expect(parseManagerLine('h1 (current master)\n +--h2\n').msg).toBe('h1 (current master)\n +--h2');
  });
});

describe('configuration directory', () => {
  it('finds *.cnf clusters (not hidden files, not masterha_default.cnf), and tells added / changed / removed', async () => {
    const d = mkdtempSync(join(dir, 'conf-'));
    writeFileSync(join(d, 'a.cnf'), '[server1]\nhostname=h\n');
    writeFileSync(join(d, 'b.cnf'), '[server1]\nhostname=h\n');
    writeFileSync(join(d, '.c.cnf'), '');
    writeFileSync(join(d, 'masterha_default.cnf'), '');
    writeFileSync(join(d, 'notes.txt'), '');
    const s1 = await scanConfigDir(d);
    expect([...s1.keys()]).toEqual(['a', 'b']);
    writeFileSync(join(d, 'b.cnf'), '[server1]\nhostname=h2\n');
    writeFileSync(join(d, 'a.cnf'), '[server1]\nhostname=h\n'); // rewritten, same content
    unlinkSync(join(d, 'a.cnf'));
    writeFileSync(join(d, 'd.cnf'), '');
    const ch = diffScans(s1, await scanConfigDir(d));
    expect(ch.added.map((f) => f.name)).toEqual(['d']);
    expect(ch.changed.map((f) => f.name)).toEqual(['b']);
    expect(ch.removed.map((f) => f.name)).toEqual(['a']);
  });

  it('the watcher reports a renamed-in file quickly (fs.watch) and the rescan catches up regardless', async () => {
    const d = mkdtempSync(join(dir, 'watch-'));
    const seen: string[] = [];
    const w = new ConfigDirWatcher({
      dir: d,
      rescanIntervalMs: 60_000,
      debounceMs: 50,
      onChanges: async (c) => {
        for (const f of c.added) seen.push(`+${f.name}`);
        for (const f of c.removed) seen.push(`-${f.name}`);
      },
    });
    await w.start();
    try {
      writeFileSync(join(dir, 'x.tmp'), '[server1]\n');
      renameSync(join(dir, 'x.tmp'), join(d, 'x.cnf'));
      await waitFor('x added', () => seen.includes('+x'), 5000, 20);
      unlinkSync(join(d, 'x.cnf'));
      await waitFor('x removed', () => seen.includes('-x'), 5000, 20);
      writeFileSync(join(d, 'y.cnf'), '');
      await w.rescan();
      expect(seen).toContain('+y');
    } finally {
      w.close();
    }
  });
});

describe('API token', () => {
  it('is read from a 0600 file only; a file others can read is refused', () => {
    const f = join(dir, 'tok');
    writeFileSync(f, 'abc-token\n', { mode: 0o600 });
    expect(readTokenFile(f)).toBe('abc-token');
    const g = join(dir, 'tok-open');
    writeFileSync(g, 'abc-token\n', { mode: 0o644 });
    expect(() => readTokenFile(g)).toThrow(TokenError);
    expect(() => readTokenFile(g)).toThrow(/chmod 600/);
  });

  it('parses HOST[:PORT]', () => {
    expect(parseHostPort('127.0.0.12')).toEqual({ host: '127.0.0.12', port: 3306 });
    expect(parseHostPort('db2:3307')).toEqual({ host: 'db2', port: 3307 });
  });
});

const report = (): FailoverReport => ({
  app: 'app1',
  deadMaster: 'h1(127.0.0.1:3306)',
  newMaster: 'h2(127.0.0.2:3306)',
  status: 'succeeded',
  exitCode: 0,
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:05.000Z',
  phases: [
    { phase: 'Phase 1: Configuration Check Phase', startedAt: '', ms: 100 },
    { phase: 'Phase 3: Master Recovery Phase', startedAt: '', ms: 2500 },
  ],
  servers: [
    {
      server: 'h2',
      role: 'new master',
      status: 'ok',
      message: '',
      diff: { pieces: [], transactions: 10, skippedGtids: 0, bytes: 4000, applyMs: 200 },
    },
    {
      server: 'h3',
      role: 'replica',
      status: 'ok',
      message: '',
      diff: { pieces: [], transactions: 5, skippedGtids: 0, bytes: 1000, applyMs: 50 },
    },
  ],
  savedMasterBinlog: { file: '/x', bytes: 321 },
  lines: [],
});

describe('metrics', () => {
  it('turn a failover report into counts, phase durations, diff bytes and rates; a removed cluster takes its series', async () => {
    const m = new DaemonMetrics();
    m.addCluster('app1');
    m.addCluster('app2');
    m.observePing('app1', true, 2);
    m.observePing('app1', false, 1000);
    m.setReplica('app1', 'h3', { lag: 7, ioRunning: true, sqlRunning: false });
    m.observeFailover('app1', report());
    const t = await m.text();
    expect(metricValue(t, 'mha_ping_latency_seconds_count', { cluster: 'app1' })).toBe(1);
    expect(metricValue(t, 'mha_ping_failures_total', { cluster: 'app1' })).toBe(1);
    expect(metricValue(t, 'mha_replica_lag_seconds', { cluster: 'app1', server: 'h3' })).toBe(7);
    expect(metricValue(t, 'mha_replica_sql_running', { cluster: 'app1', server: 'h3' })).toBe(0);
    expect(metricValue(t, 'mha_failovers_total', { cluster: 'app1', status: 'succeeded' })).toBe(1);
    expect(
      metricValue(t, 'mha_failover_phase_duration_seconds_sum', {
        cluster: 'app1',
        phase: 'Phase 3: Master Recovery Phase',
      }),
    ).toBe(2.5);
    expect(metricValue(t, 'mha_failover_duration_seconds_sum', { cluster: 'app1' })).toBe(2.6);
    expect(metricValue(t, 'mha_failover_diff_bytes_applied_total', { cluster: 'app1' })).toBe(5000);
    expect(metricValue(t, 'mha_failover_apply_bytes_per_second', { cluster: 'app1', server: 'h2' })).toBe(20000);
    expect(metricValue(t, 'mha_failover_parser_bytes_per_second', { cluster: 'app1' })).toBe(20000);
    expect(metricValue(t, 'mha_failover_saved_master_binlog_bytes_total', { cluster: 'app1' })).toBe(321);
    m.removeCluster('app1');
    const t2 = await m.text();
    expect(t2).not.toContain('cluster="app1"');
    expect(t2).toContain('cluster="app2"');
  });
});

describe('API server and client without a daemon behind them', () => {
  it('401 without the right token; the client says what to do; unreachable is a clear error', async () => {
    const metrics = new DaemonMetrics();
    const app = await startApiServer({
      host: '127.0.0.1',
      port: 18460,
      token: 'unit-token-xyz',
      metrics,
      clusters: () => [],
      daemonInfo: () => ({ pid: process.pid }),
    });
    try {
      const res = await fetch('http://127.0.0.1:18460/api/clusters');
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      const page = await fetch('http://127.0.0.1:18460/');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script src="app.js">');
      const js = await fetch('http://127.0.0.1:18460/app.js');
      expect(js.headers.get('content-type')).toContain('javascript');
      const bad = new ApiClient({ url: 'http://127.0.0.1:18460', env: {} });
      await expect(bad.get('/api/clusters')).rejects.toThrow(/401 unauthorized/);
      const good = new ApiClient({ url: 'http://127.0.0.1:18460', env: { MHA_API_TOKEN: 'unit-token-xyz' } });
      expect(await good.get('/api/clusters')).toEqual({ clusters: [] });
      const e = await good.get('/api/clusters/zz').catch((x: ApiError) => x);
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).kind).toBe('not-found');
      expect((e as ApiError).message).toBe('unknown cluster: zz');
    } finally {
      await app.close();
    }
    const gone = new ApiClient({ url: 'http://127.0.0.1:18461', env: {} });
    await expect(gone.get('/api/clusters')).rejects.toThrow(/not reachable \(ECONNREFUSED\)/);
  });
});
