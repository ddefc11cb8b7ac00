/**
 * The two moves every traffic integration is tested with, on a namespace cluster
 * (test/lab/netns-lab.ts), while an application client writes through the VIP or HAProxy:
 *
 * - a dead-master failover: the master's mariadbd is SIGKILLed and the manager (in the
 *   manager namespace, calling the hook as master_ip_failover_script) fails over by itself;
 * - an online switch (src/manager/switchover.ts, calling the hook as
 *   master_ip_online_change_script), the orig master becoming a replica of the new one.
 *
 * Both return the client-side write-block window (last write the old master acknowledged →
 * first write the new master acknowledged) and check that the client then writes to the new
 * master only, and that no write the client saw acknowledged is missing on the new master.
 */
import { readFile } from 'node:fs/promises';
import { expect } from 'vitest';
import { type ClientEvent, type NetnsCluster, type WriteBlock, writeBlock } from '../lab/netns-lab.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Target {
  host: string;
  port: number;
}

export interface MoveResult {
  oldRole: string;
  newRole: string;
  block: WriteBlock;
  /** When the move began (the kill, or the switch command), epoch ms. */
  startedAt: number;
  report: Record<string, unknown>;
  events: ClientEvent[];
  output: string;
  /** Acknowledged writes the new master does not have. */
  lost?: number;
}

/** Waits until `text` appears in `file` after its first `from` characters. */
async function waitForLogLine(file: string, text: string, timeoutMs: number, from = 0): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await readFile(file, 'utf8').catch(() => '');
    if (s.indexOf(text, from) >= 0) return;
    await sleep(200);
  }
  throw new Error(`"${text}" did not appear in ${file} within ${timeoutMs} ms`);
}

async function bounded<T>(p: Promise<T>, ms: number, onTimeout: () => void, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => {
      onTimeout();
      rej(new Error(`${what} did not finish within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

function roleOf(c: NetnsCluster, server: unknown): string {
  const s = String(server ?? '');
  const i = c.hosts.findIndex((h) => s.startsWith(`${h}(`));
  if (i < 0) throw new Error(`unknown server in report: ${s}`);
  return c.dbRoles[i];
}

/** Acknowledged writes missing on the server of `role` (a connection of its own: shared sessions may have been killed). */
async function lostWrites(c: NetnsCluster, role: string, events: ClientEvent[]): Promise<ClientEvent[]> {
  const conn = await c.lab.connect(role);
  try {
    const [rows] = await conn.query('SELECT seq FROM app.writes');
    const have = new Set((rows as { seq: unknown }[]).map((r) => Number(r.seq)));
    return events.filter((e) => e.ok && e.seq !== undefined && !have.has(e.seq));
  } finally {
    await conn.end();
  }
}

async function checkNoAcknowledgedWriteLost(c: NetnsCluster, role: string, events: ClientEvent[]): Promise<void> {
  const lost = await lostWrites(c, role, events);
  expect(lost.length, `acknowledged writes missing on ${role}: ${lost.slice(0, 5).map((e) => e.seq)}`).toBe(0);
}

function checkBlock(b: WriteBlock, what: string): void {
  expect(b.windowMs, `${what}: old and new master acknowledged writes at the same time`).toBeGreaterThan(0);
  expect(b.strayAfter, `${what}: writes acknowledged by another server after the new master took over`).toBe(0);
}

/**
 * The master dies — by default its mariadbd is SIGKILLed; `kill` can do otherwise (pull the
 * host's cable) — and the manager fails over by itself.
 */
export async function failoverScenario(
  c: NetnsCluster,
  target: Target,
  oldRole: string,
  kill: () => Promise<void> = () => c.lab.killInstance(oldRole),
  /**
   * With the host reachable, its binlog is saved and nothing acknowledged may be lost. A host
   * that vanished takes what its replicas had not received yet with it (asynchronous
   * replication): then the loss is only counted (MoveResult.lost).
   */
  expectNoLoss = true,
): Promise<MoveResult> {
  const client = c.startClient(target.host, target.port);
  let manager: ReturnType<NetnsCluster['startManager']> | undefined;
  try {
    expect(await client.waitForWrites(50, 60_000, c.serverId(oldRole)), 'client writes through the VIP/proxy').toBe(
      true,
    );
    const logFrom = (await readFile(c.managerLog, 'utf8').catch(() => '')).length;
    manager = c.startManager();
    await waitForLogLine(c.managerLog, "Ping(SELECT) succeeded, waiting until MySQL doesn't respond", 90_000, logFrom);
    await sleep(1000);
    const startedAt = Date.now();
    await kill();
    const m = manager;
    const res = await bounded(m.done, 240_000, () => m.stop(), 'the manager');
    const report = (res.report ?? {}) as Record<string, unknown>;
    if (res.code !== 0) {
      const logText = (await readFile(c.managerLog, 'utf8').catch(() => '')).slice(logFrom);
      expect(res.code, `manager exit code; output:\n${res.output.slice(-2000)}\nlog:\n${logText.slice(-6000)}`).toBe(0);
    }
    const newRole = roleOf(c, report.newMaster);
    expect(await client.waitForWrites(50, 60_000, c.serverId(newRole)), 'client writes after the failover').toBe(true);
    await client.stop();
    const block = writeBlock(client.events, c.serverId(oldRole), c.serverId(newRole));
    checkBlock(block, 'failover');
    const lost = (await lostWrites(c, newRole, client.events)).length;
    if (expectNoLoss) expect(lost, `acknowledged writes missing on ${newRole}`).toBe(0);
    return { oldRole, newRole, block, startedAt, report, events: client.events, output: res.output, lost };
  } finally {
    manager?.stop();
    await client.stop();
  }
}

/** Online switch from the current master to `newRole`, the orig master becoming its replica. */
export async function switchScenario(
  c: NetnsCluster,
  target: Target,
  oldRole: string,
  newRole: string,
): Promise<MoveResult> {
  const client = c.startClient(target.host, target.port);
  try {
    expect(await client.waitForWrites(50, 60_000, c.serverId(oldRole)), 'client writes before the switch').toBe(true);
    const startedAt = Date.now();
    const res = await bounded(c.runSwitch(c.net.address(newRole)), 240_000, () => {}, 'the online switch');
    const report = (res.report ?? {}) as Record<string, unknown>;
    expect(res.code, `switch exit code; output:\n${res.output.slice(-4000)}`).toBe(0);
    expect(roleOf(c, report.newMaster)).toBe(newRole);
    expect(await client.waitForWrites(50, 60_000, c.serverId(newRole)), 'client writes after the switch').toBe(true);
    await client.stop();
    const block = writeBlock(client.events, c.serverId(oldRole), c.serverId(newRole));
    checkBlock(block, 'switch');
    await checkNoAcknowledgedWriteLost(c, newRole, client.events);
    return { oldRole, newRole, block, startedAt, report, events: client.events, output: res.output };
  } finally {
    await client.stop();
  }
}

/** One line for the test output (the measurements the README quotes). */
export function describeMove(integration: string, kind: string, m: MoveResult): string {
  const isSwitch = kind.startsWith('switch');
  const b = m.block;
  const errs = Object.entries(b.errors)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 3)
    .map(([e, n]) => `${n}× ${e}`)
    .join('; ');
  const wbr = m.report.writeBlock as { ms?: number; steps?: { step: string; ms: number }[] } | undefined;
  const server = wbr?.ms;
  const detection = m.report.detection as { detectedAt?: string } | undefined;
  const detail = isSwitch
    ? (wbr?.steps ?? []).map((s) => `${s.step} ${s.ms} ms`).join(', ')
    : [
        detection?.detectedAt ? `declared dead after ${Date.parse(detection.detectedAt) - m.startedAt} ms` : '',
        ...((m.report.phases as { step?: string; phase?: string; ms?: number }[] | undefined) ?? []).map(
          (p) => `${p.phase ?? p.step} ${p.ms} ms`,
        ),
      ]
        .filter(Boolean)
        .join(', ');
  return (
    `[traffic] ${integration} ${kind} ${m.oldRole}→${m.newRole}: client write-block window ${b.windowMs} ms ` +
    `(last ack by old ${b.lastOld.t - m.startedAt} ms after the ${isSwitch ? 'switch began' : 'master died'}, ` +
    `first ack by new ${b.firstNew.t - m.startedAt} ms after it; ${b.failedAttempts} failed attempts${errs ? `: ${errs}` : ''})` +
    (server !== undefined ? `; manager-side write block ${server} ms` : '') +
    (m.lost ? `; ${m.lost} acknowledged writes were only on the vanished host` : '') +
    (detail ? `\n  manager: ${detail}` : '')
  );
}
