/**
 * The manager as the partition tests run it: its own process inside the manager's network
 * namespace (`ip netns exec NS node --import tsx test/reliability/partition-manager.ts CONF
 * REPORTS`), because a process cannot move itself into another namespace. runManager as
 * `masterha_manager` runs it, except that it keeps monitoring after a failover (the old
 * master is watched meanwhile); each failover report is appended to REPORTS as one JSON line.
 * SIGTERM stops it.
 */
import { appendFileSync } from 'node:fs';
import { runManager } from '../../src/manager/manager.js';

const [confFile, reportsFile] = process.argv.slice(2);
const controller = new AbortController();
process.on('SIGTERM', () => controller.abort());
const code = await runManager({
  confFile,
  globalConf: null,
  signal: controller.signal,
  onFailover: (report) => appendFileSync(reportsFile, `${JSON.stringify(report)}\n`, { mode: 0o600 }),
});
process.exit(code);
