import { promises as fsp } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { ServerConnection } from '../mysql/server-connection.js';
import { parseIndexFile } from './log-files.js';

/** The advisory lock a failover holds on each replica; purge takes it too so they never overlap. */
export const FAILOVER_LOCK = 'MHA_Master_High_Availability_Failover';

export interface PurgeOptions {
  /** Where hard links are made (same filesystem as the relay logs, or links are skipped). */
  workdir: string;
  /** Turn relay_log_purge off first when it is on (MHA's --disable_relay_log_purge). */
  disableRelayLogPurge?: boolean;
  useHardLinks?: boolean;
  /** Seconds to wait for the failover lock (MHA: 200). */
  lockWaitSeconds?: number;
  /** Bound on waiting for the SQL thread to drop the old files. */
  purgeWaitMs?: number;
  log?: (line: string) => void;
}

export type PurgeResult =
  | { status: 'purged'; removed: string[]; kept: string[]; hardLinked: boolean }
  | { status: 'skipped'; reason: string };

async function relayIndexPath(server: ServerConnection): Promise<string> {
  const indexVar = await server.variable('relay_log_index');
  const datadir = (await server.variable('datadir')) ?? '';
  const basename = (await server.variable('relay_log_basename')) ?? '';
  if (indexVar) return isAbsolute(indexVar) ? indexVar : join(datadir, indexVar);
  return `${basename}.index`;
}

/**
 * MHA's purge_relay_logs, with its defects fixed: the server deletes its applied relay
 * logs while relay_log_purge is briefly on; hard links made beforehand keep the unlink
 * of large files cheap for the server (we remove them afterwards, outside the lock), and
 * the failover lock keeps a purge from ever running during a failover.
 */
export async function purgeRelayLogs(server: ServerConnection, opts: PurgeOptions): Promise<PurgeResult> {
  const log = opts.log ?? (() => {});
  if (!(await server.replicaStatus())) return { status: 'skipped', reason: 'this server is not a replica' };
  const purgeWas = (await server.variable('relay_log_purge')) === 'ON';
  if (purgeWas) {
    if (!opts.disableRelayLogPurge) {
      return { status: 'skipped', reason: 'relay_log_purge is enabled: the server purges relay logs itself' };
    }
    await server.query('SET GLOBAL relay_log_purge=0');
    log('relay_log_purge was ON; turned OFF (--disable_relay_log_purge).');
  }
  const indexPath = await relayIndexPath(server);
  const dir = dirname(indexPath);
  const before = parseIndexFile(await fsp.readFile(indexPath, 'utf8'));
  let hardLinked = false;
  const links: string[] = [];
  await fsp.mkdir(opts.workdir, { recursive: true, mode: 0o700 });
  if (opts.useHardLinks ?? true) {
    try {
      for (const f of before.slice(0, -1)) {
        const link = join(opts.workdir, `${f}.purge-link`);
        await fsp.rm(link, { force: true });
        await fsp.link(join(dir, f), link);
        links.push(link);
      }
      hardLinked = links.length > 0;
    } catch (err) {
      log(`hard links not made (${(err as NodeJS.ErrnoException).code}); the server will unlink the files itself`);
    }
  }
  const got = await server.one<{ l: number | string | null }>('SELECT GET_LOCK(?, ?) AS l', [
    FAILOVER_LOCK,
    opts.lockWaitSeconds ?? 200,
  ]);
  if (Number(got?.l) !== 1) {
    for (const l of links) await fsp.rm(l, { force: true });
    throw new Error(
      `could not take the lock ${FAILOVER_LOCK} on ${server.addr.host}:${server.addr.port}: a failover may be running`,
    );
  }
  let after = before;
  try {
    await server.query('SET GLOBAL relay_log_purge=1');
    await server.query('FLUSH NO_WRITE_TO_BINLOG RELAY LOGS');
    // The SQL thread removes the applied files when it moves on to the new one.
    const deadline = Date.now() + (opts.purgeWaitMs ?? 10_000);
    for (let i = 0; i < 200 && Date.now() < deadline; i++) {
      after = parseIndexFile(await fsp.readFile(indexPath, 'utf8'));
      if (after.length <= 2 || after[0] !== before[0]) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await server.query('SET GLOBAL relay_log_purge=0').catch(() => {});
    await server.query('SELECT RELEASE_LOCK(?)', [FAILOVER_LOCK]).catch(() => {});
  }
  for (const l of links) await fsp.rm(l, { force: true });
  const removed = before.filter((f) => !after.includes(f));
  log(`Purged ${removed.length} relay log file(s); ${after.length} kept.`);
  return { status: 'purged', removed, kept: after, hardLinked };
}
