import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Etcd3, type IOptions } from 'etcd3';
import type { IRequestOp as RequestOp } from 'etcd3/lib/rpc.js';
import { type Fence, FencedOut } from '../../manager/failover-state.js';

/**
 * Leadership of one managed application (a replication cluster) among several managers, on
 * etcd: the leader key `<prefix>/<app>/leader` is created in a transaction that only
 * succeeds when it does not exist, attached to a lease of the candidate's own. Its create
 * revision is the fencing token: it changes every time anyone wins, so a deposed leader's
 * token never matches again.
 *
 * The leader must stop acting before anyone else can start. Another manager can only win
 * after etcd expired our lease, which happens no earlier than TTL after etcd received our
 * last keepalive; we count our validity from the moment we *sent* that keepalive, on the
 * monotonic clock, and stop a guard interval before it ends. So a leader cut off from
 * etcd aborts its work and refuses every action while its lease may still exist — before
 * its lease can have expired elsewhere.
 */

export interface EtcdCoordinatorOptions {
  /** `host:port` or `http://host:port`. */
  endpoints: readonly string[];
  /** Key prefix (default `/mha`). */
  prefix?: string;
  /** Lease TTL in seconds (default 5, at least 2). */
  ttlSec?: number;
  /** Who we are, stored as the leader key's value (default `<hostname>:<pid>`). */
  identity?: string;
  /** Diagnostics (lost leadership, keepalive failures). */
  onEvent?: (msg: string) => void;
  /** Extra etcd3 client options (credentials, auth). */
  client?: Partial<IOptions>;
}

export interface LeaderInfo {
  identity: string;
  lease: string;
  /** The fencing token: the leader key's create revision. */
  token: string;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Rejects after `ms`: etcd3 retries a failed call on other endpoints, so one call's deadline does not bound it. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`etcd: ${what} timed out after ${Math.round(ms)} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function normalizeEndpoint(e: string): string {
  const t = e.trim();
  return /^[a-z]+:\/\//.test(t) ? t : `http://${t}`;
}

export class EtcdCoordinator {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly ttlSec: number;
  readonly identity: string;
  private readonly onEvent: (msg: string) => void;
  private closed = false;

  constructor(opts: EtcdCoordinatorOptions) {
    if (opts.endpoints.length === 0) throw new Error('etcd: no endpoints');
    this.ttlSec = Math.max(2, Math.round(opts.ttlSec ?? 5));
    this.prefix = (opts.prefix ?? '/mha').replace(/\/+$/, '');
    this.identity = opts.identity ?? `${hostname()}:${process.pid}`;
    this.onEvent = opts.onEvent ?? (() => {});
    this.client = new Etcd3({
      hosts: opts.endpoints.map(normalizeEndpoint),
      dialTimeout: Math.min(2000, (this.ttlSec * 1000) / 3),
      ...opts.client,
    });
  }

  key(app: string, ...parts: string[]): string {
    return [this.prefix, app, ...parts].join('/');
  }

  /** One call's bound: well inside a lease period, so a slow etcd cannot hold us past our validity. */
  get callTimeoutMs(): number {
    return Math.max(500, Math.floor((this.ttlSec * 1000) / 3));
  }

  /** The current leader of an application, if any. */
  async leader(app: string): Promise<LeaderInfo | undefined> {
    const res = await bounded(
      this.client.kv.range({ key: Buffer.from(this.key(app, 'leader')) }, this.deadline(this.callTimeoutMs)),
      this.callTimeoutMs * 2,
      'read leader',
    );
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return { identity: kv.value.toString(), lease: String(kv.lease), token: String(kv.create_revision) };
  }

  /**
   * Resolves when this manager leads `app`; rejects only when `signal` aborts (or the
   * coordinator is closed). Unreachable etcd is retried: a manager keeps trying to lead.
   */
  async campaign(app: string, signal?: AbortSignal): Promise<Leadership> {
    const key = Buffer.from(this.key(app, 'leader'));
    const pollMs = Math.min(500, Math.floor((this.ttlSec * 1000) / 4));
    let lastError = '';
    while (!signal?.aborted && !this.closed) {
      try {
        const current = await bounded(
          this.client.kv.range({ key }, this.deadline(this.callTimeoutMs)),
          this.callTimeoutMs,
          'read leader',
        );
        if (current.kvs.length === 0) {
          const won = await this.tryToLead(app, key);
          if (won) return won;
        }
        lastError = '';
      } catch (err) {
        const msg = (err as Error).message;
        if (msg !== lastError) this.onEvent(`etcd unreachable while campaigning for ${app}: ${msg}`);
        lastError = msg;
      }
      await sleep(pollMs, signal);
    }
    throw new Error(this.closed ? 'coordinator closed' : 'campaign aborted');
  }

  private async tryToLead(app: string, key: Buffer): Promise<Leadership | undefined> {
    const sentAt = performance.now();
    const grant = await bounded(
      this.client.leaseClient.leaseGrant({ TTL: this.ttlSec }, this.deadline(this.callTimeoutMs)),
      this.callTimeoutMs,
      'lease grant',
    );
    const lease = String(grant.ID);
    try {
      const res = await bounded(
        this.client.kv.txn(
          {
            compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
            success: [{ request_put: { key, value: Buffer.from(this.identity), lease } }, { request_range: { key } }],
            failure: [],
          },
          this.deadline(this.callTimeoutMs),
        ),
        this.callTimeoutMs,
        'claim leadership',
      );
      if (!res.succeeded) {
        await this.revoke(lease);
        return undefined;
      }
      // The key as this very transaction wrote it (its second operation reads it back).
      const kv = res.responses[1]?.response_range?.kvs[0];
      if (!kv || String(kv.lease) !== lease) {
        await this.revoke(lease);
        return undefined;
      }
      const token = String(kv.create_revision);
      return new Leadership(this, app, lease, token, sentAt);
    } catch (err) {
      await this.revoke(lease);
      throw err;
    }
  }

  async revoke(lease: string): Promise<void> {
    await bounded(
      this.client.leaseClient.leaseRevoke({ ID: lease }, this.deadline(this.callTimeoutMs)),
      this.callTimeoutMs,
      'lease revoke',
    ).catch(() => {});
  }

  /** gRPC call options that cancel the call itself (the bound above only stops our waiting). */
  deadline(ms: number): { deadline: Date } {
    return { deadline: new Date(Date.now() + ms) };
  }

  emit(msg: string): void {
    this.onEvent(msg);
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }
}

/**
 * Held while this manager leads one application. `signal` aborts when leadership is lost
 * (lease expired or revoked, leader key gone or replaced, etcd unreachable for too long);
 * `fence` must be called before every action on a server.
 */
export class Leadership {
  readonly key: Buffer;
  private readonly controller = new AbortController();
  /** performance.now() when the last keepalive that etcd answered was sent. */
  private renewedAt: number;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private lostReason: string | undefined;
  private lastFailure: string | undefined;

  constructor(
    readonly coordinator: EtcdCoordinator,
    readonly app: string,
    readonly lease: string,
    readonly token: string,
    grantSentAt: number,
  ) {
    this.key = Buffer.from(coordinator.key(app, 'leader'));
    this.renewedAt = grantSentAt;
    this.scheduleRenewal(0);
    this.watchdog = setInterval(() => this.checkValidity(), 100);
    this.watchdog.unref?.();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get lost(): string | undefined {
    return this.lostReason;
  }

  get ttlMs(): number {
    return this.coordinator.ttlSec * 1000;
  }

  /**
   * How long before our lease could expire we stop acting: a manager that passed the
   * fence needs some time to finish the one statement it was allowed, and clocks of
   * different hosts drift a little.
   */
  get guardMs(): number {
    return Math.min(1500, Math.floor(this.ttlMs / 4));
  }

  /** Milliseconds this manager may still act, from its last answered keepalive. */
  remainingMs(): number {
    return this.renewedAt + this.ttlMs - this.guardMs - performance.now();
  }

  private checkValidity(): void {
    if (this.lostReason) return;
    if (this.remainingMs() <= 0) {
      this.markLost(
        `no answered lease keepalive for ${Math.round(performance.now() - this.renewedAt)} ms (TTL ${this.ttlMs} ms)`,
      );
    }
  }

  private scheduleRenewal(ms: number): void {
    if (this.lostReason) return;
    this.timer = setTimeout(() => void this.renew(), ms);
  }

  private async renew(): Promise<void> {
    if (this.lostReason) return;
    const sentAt = performance.now();
    const c = this.coordinator;
    let ok = false;
    try {
      const ttl = await bounded(this.keepaliveOnce(), c.callTimeoutMs, 'lease keepalive');
      if (ttl <= 0) {
        this.markLost(`lease ${this.lease} expired in etcd`);
        return;
      }
      // The lease is renewed from the moment etcd got this keepalive, no earlier than sentAt.
      this.renewedAt = Math.max(this.renewedAt, sentAt);
      ok = true;
      this.lastFailure = undefined;
      // An operator may delete the key (to force a new election), or it may belong to
      // someone else after our lease expired: either way we do not lead any more.
      const res = await bounded(
        c.client.kv.range({ key: this.key }, c.deadline(c.callTimeoutMs)),
        c.callTimeoutMs,
        'read leader',
      );
      const kv = res.kvs[0];
      if (!kv || String(kv.lease) !== this.lease || String(kv.create_revision) !== this.token) {
        // A read may be served by a member that lags; a write may not: ask again through raft.
        const still = await this.confirm('renew leadership', c.callTimeoutMs).catch(() => true);
        if (!still) {
          this.markLost(kv ? `leader key now held by ${kv.value.toString()}` : 'leader key deleted');
          return;
        }
      }
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastFailure) c.emit(`lease keepalive for ${this.app} failed: ${msg}`);
      this.lastFailure = msg;
    }
    this.checkValidity();
    // A third of the TTL when all is well. After a failure at once again: the call may
    // have gone to a dead etcd member, and the next one goes to another.
    const next = ok ? Math.floor(this.ttlMs / 3) - (performance.now() - sentAt) : 100;
    this.scheduleRenewal(Math.max(ok ? 200 : 100, next));
  }

  private async keepaliveOnce(): Promise<number> {
    const c = this.coordinator;
    const stream = await c.client.leaseClient.leaseKeepAlive(c.deadline(c.callTimeoutMs));
    try {
      return await new Promise<number>((resolve, reject) => {
        stream.on('data', (res: { TTL: string | number }) => resolve(Number(res.TTL)));
        stream.on('error', reject);
        stream.write({ ID: this.lease });
      });
    } finally {
      stream.end();
    }
  }

  private markLost(reason: string): void {
    if (this.lostReason) return;
    this.lostReason = reason;
    this.stopTimers();
    this.coordinator.emit(`lost leadership of ${this.app}: ${reason}`);
    this.controller.abort(new FencedOut('lead', reason));
  }

  private stopTimers(): void {
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    this.timer = undefined;
    this.watchdog = undefined;
  }

  /** The etcd comparisons that hold while we lead: used by the fence and by every write of the state store. */
  compares() {
    return [
      { key: this.key, target: 'Lease' as const, result: 'Equal' as const, lease: this.lease },
      { key: this.key, target: 'Create' as const, result: 'Equal' as const, create_revision: this.token },
    ];
  }

  /**
   * One transaction applied only while the leader key carries our lease and token. It
   * always goes through raft — its failure branch records the refusal under
   * `<prefix>/<app>/refused`, so etcd never treats it as a read-only transaction that a
   * lagging member could answer from an old state — and so do the reads in `success`.
   */
  async txnAsLeader(action: string, success: RequestOp[], limitMs: number) {
    const c = this.coordinator;
    const record = (key: string) => ({
      request_put: {
        key: Buffer.from(c.key(this.app, key)),
        value: Buffer.from(
          JSON.stringify({ identity: c.identity, token: this.token, action, at: new Date().toISOString() }),
        ),
      },
    });
    return bounded(
      c.client.kv.txn({ compare: this.compares(), success, failure: [record('refused')] }, c.deadline(limitMs)),
      limitMs,
      action,
    );
  }

  /**
   * Whether etcd confirms our lead, recording the action under `<prefix>/<app>/last-action`
   * (who acted last, with which token, and how).
   */
  private async confirm(action: string, limitMs: number): Promise<boolean> {
    const c = this.coordinator;
    const value = JSON.stringify({ identity: c.identity, token: this.token, action, at: new Date().toISOString() });
    const res = await this.txnAsLeader(
      action,
      [{ request_put: { key: Buffer.from(c.key(this.app, 'last-action')), value: Buffer.from(value) } }],
      limitMs,
    );
    return res.succeeded;
  }

  /** Refuses locally when this manager may not act, without asking etcd. */
  checkLocal(action: string): void {
    this.checkValidity();
    if (this.lostReason) throw new FencedOut(action, `leadership of ${this.app} lost: ${this.lostReason}`);
  }

  /**
   * Before every action on a server: our lease is fresh enough locally, and etcd confirms
   * in one transaction that the leader key still carries our lease and our token.
   */
  readonly fence: Fence = async (action: string) => {
    this.checkLocal(action);
    const c = this.coordinator;
    const limit = Math.max(1, Math.min(this.remainingMs(), c.callTimeoutMs));
    let ok: boolean;
    try {
      ok = await this.confirm(action, limit);
    } catch (err) {
      throw new FencedOut(action, `cannot confirm leadership of ${this.app} in etcd: ${(err as Error).message}`);
    }
    if (!ok) {
      this.markLost(`fencing token ${this.token} is stale`);
      throw new FencedOut(action, `fencing token ${this.token} for ${this.app} is stale: another manager leads`);
    }
    this.checkLocal(action);
  };

  /** Gives leadership up at once (the others need not wait for the lease to expire). */
  async resign(): Promise<void> {
    const wasLost = this.lostReason !== undefined;
    if (!wasLost) {
      this.lostReason = 'resigned';
      this.stopTimers();
      this.controller.abort(new FencedOut('lead', 'resigned'));
    }
    const c = this.coordinator;
    // Only our own key goes: if another manager leads by now, its key has another lease.
    await bounded(
      c.client.kv.txn(
        {
          compare: this.compares(),
          success: [{ request_delete_range: { key: this.key } }],
          failure: [],
        },
        c.deadline(c.callTimeoutMs),
      ),
      c.callTimeoutMs,
      'resign',
    ).catch(() => {});
    await c.revoke(this.lease);
  }
}
