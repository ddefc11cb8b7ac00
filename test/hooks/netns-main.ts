/**
 * Programs the namespace tests start inside a namespace (`ip netns exec NS node --import
 * tsx test/hooks/netns-main.ts MODE …`), because a process cannot enter another network
 * namespace by itself:
 *
 *   manager CONF REPORT   runManager on CONF (exit after one failover, the dead master's block
 *                         removed from CONF); the report as JSON to REPORT
 *   switch CONF REPORT NEWHOST
 *                         the online switch (src/manager/switchover.ts) to NEWHOST, the orig
 *                         master becoming its replica; the report as JSON to REPORT
 *   client HOST PORT      an application session: one autocommit INSERT after another through
 *                         HOST:PORT (a VIP or HAProxy), reconnecting on error; prints
 *                         `S <ms> <server_id> <seq>` per acknowledged write and `F <ms> <error>` per
 *                         failure; stops when stdin closes. Credentials: CLIENT_USER/CLIENT_PASSWORD.
 */
import { writeFileSync } from 'node:fs';
import { type Connection, createConnection } from 'mysql2/promise';
import { loadConfig } from '../../src/manager/config/index.js';
import { ManagerLog } from '../../src/manager/log.js';
import { runManager } from '../../src/manager/manager.js';
import { runOnlineSwitch } from '../../src/manager/switchover.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function manager(confFile: string, reportFile: string): Promise<number> {
  const controller = new AbortController();
  process.on('SIGTERM', () => controller.abort());
  return runManager({
    confFile,
    globalConf: null,
    exitAfterFailover: true,
    removeDeadMasterConf: true,
    signal: controller.signal,
    onFailover: (report) => writeFileSync(reportFile, JSON.stringify(report, null, 2)),
  });
}

async function onlineSwitch(confFile: string, reportFile: string, newHost: string): Promise<number> {
  const config = loadConfig({ appFile: confFile, globalFile: null });
  const log = new ManagerLog(config.app.managerLog, 'info', (line) => process.stdout.write(line));
  const report = await runOnlineSwitch({
    config,
    log,
    newMaster: { host: newHost, port: 3306 },
    origMasterIsNewSlave: true,
    reportFile: null,
  });
  writeFileSync(reportFile, JSON.stringify(report, null, 2));
  return report.exitCode;
}

async function client(host: string, port: number): Promise<number> {
  let stopped = false;
  process.stdin.on('end', () => {
    stopped = true;
  });
  process.stdin.on('close', () => {
    stopped = true;
  });
  process.stdin.resume();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let conn: Connection | undefined;
  let sid = 0;
  let seq = Date.now() * 100;
  // Bounded: a client never runs longer than 15 minutes.
  const deadline = Date.now() + 15 * 60_000;
  while (!stopped && Date.now() < deadline) {
    try {
      if (!conn) {
        conn = await createConnection({
          host,
          port,
          user: process.env.CLIENT_USER,
          password: process.env.CLIENT_PASSWORD,
          connectTimeout: 1000,
        });
        conn.on('error', () => {});
        const [rows] = await conn.query({ sql: 'SELECT @@server_id AS s', timeout: 1000 });
        sid = Number((rows as { s: number }[])[0].s);
      }
      seq++;
      await conn.query({ sql: 'INSERT INTO app.writes VALUES (?, ?, @@server_id)', timeout: 1000 }, [seq, Date.now()]);
      out(`S ${Date.now()} ${sid} ${seq}`);
      await sleep(5);
    } catch (e) {
      const err = e as { code?: string; errno?: number; message: string };
      out(`F ${Date.now()} ${err.code ?? err.errno ?? ''} ${err.message.replace(/\s+/g, ' ').slice(0, 120)}`);
      conn?.destroy();
      conn = undefined;
      await sleep(20);
    }
  }
  conn?.destroy();
  return 0;
}

const [mode, ...args] = process.argv.slice(2);
let code: number;
if (mode === 'manager') code = await manager(args[0], args[1]);
else if (mode === 'switch') code = await onlineSwitch(args[0], args[1], args[2]);
else if (mode === 'client') code = await client(args[0], Number(args[1]));
else {
  process.stderr.write(`unknown mode ${mode}\n`);
  code = 2;
}
process.exit(code);
