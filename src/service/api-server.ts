/**
 * The daemon's HTTP surface (fastify): JSON status of every cluster, live topology, failover
 * reports, operator actions, Prometheus metrics, and the topology page. Bound to loopback
 * unless told otherwise; with a token, everything but the page's static files needs
 * `Authorization: Bearer <token>`.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type ClusterSupervisor, ConflictError } from './cluster-supervisor.js';
import type { DaemonMetrics } from './metrics.js';

export interface ApiServerOptions {
  host: string;
  port: number;
  token?: string;
  metrics: DaemonMetrics;
  clusters: () => ClusterSupervisor[];
  daemonInfo: () => Record<string, unknown>;
}

/** The page's files: next to this module in the sources, or found from dist/ back to src/. */
function pageDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'topology-page'), join(here, '..', '..', '..', 'src', 'service', 'topology-page')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0];
}

const PAGE_FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1].trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `host[:port]` → {host, port} (port 3306 when absent). */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(s.trim());
  if (!m) throw new Error(`not HOST[:PORT]: ${s}`);
  return { host: m[1], port: m[2] ? Number(m[2]) : 3306 };
}

export async function startApiServer(opts: ApiServerOptions): Promise<FastifyInstance> {
  // Request logging would duplicate the daemon's log for every dashboard poll.
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  const dir = pageDir();

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!opts.token) return;
    const path = req.url.split('?')[0];
    if (PAGE_FILES[path]) return;
    if (!tokenMatches(req.headers.authorization, opts.token)) {
      reply.header('WWW-Authenticate', 'Bearer realm="mha"');
      return reply.code(401).send({ error: 'unauthorized: a bearer token is required' });
    }
  });

  for (const [path, file] of Object.entries(PAGE_FILES)) {
    app.get(path, async (_req, reply) => {
      const ext = file.split('.').pop() ?? 'html';
      reply.header('Cache-Control', 'no-cache');
      return reply.type(TYPES[ext]).send(readFileSync(join(dir, file)));
    });
  }

  const find = (name: string, reply: FastifyReply): ClusterSupervisor | undefined => {
    const c = opts.clusters().find((x) => x.name === name);
    if (!c) reply.code(404).send({ error: `unknown cluster: ${name}`, clusters: opts.clusters().map((x) => x.name) });
    return c;
  };

  app.get('/api/clusters', async () => ({ clusters: opts.clusters().map((c) => c.snapshot()) }));

  // Everything in one answer: `mha status --json` prints it, the page polls it.
  app.get('/api/status', async () => {
    const clusters = await Promise.all(
      opts.clusters().map(async (c) => ({
        ...c.snapshot(),
        topology: await c.topology.read(1000).catch((e: Error) => ({ error: e.message })),
      })),
    );
    return { daemon: opts.daemonInfo(), clusters };
  });

  app.get<{ Params: { name: string } }>('/api/clusters/:name', async (req, reply) => {
    const c = find(req.params.name, reply);
    if (c) return c.snapshot();
  });

  app.get<{ Params: { name: string }; Querystring: { maxAgeMs?: string } }>(
    '/api/clusters/:name/topology',
    async (req, reply) => {
      const c = find(req.params.name, reply);
      if (!c) return;
      const maxAge = req.query.maxAgeMs === undefined ? 0 : Number(req.query.maxAgeMs);
      const view = await c.topology.read(Number.isFinite(maxAge) ? maxAge : 0);
      if (!view) return reply.code(503).send({ error: 'configuration not loaded yet' });
      return view;
    },
  );

  app.get<{ Params: { name: string } }>('/api/clusters/:name/failovers', async (req, reply) => {
    const c = find(req.params.name, reply);
    if (c) return { cluster: c.name, failovers: c.failoverReports() };
  });

  app.post<{ Params: { name: string }; Body: { newMaster?: string; origMasterIsNewSlave?: boolean } | undefined }>(
    '/api/clusters/:name/switch',
    async (req, reply) => {
      const c = find(req.params.name, reply);
      if (!c) return;
      let newMaster: { host: string; port: number } | undefined;
      try {
        newMaster = req.body?.newMaster ? parseHostPort(String(req.body.newMaster)) : undefined;
      } catch (e) {
        return reply.code(400).send({ error: (e as Error).message });
      }
      try {
        const report = await c.switchover({ newMaster, origMasterIsNewSlave: req.body?.origMasterIsNewSlave === true });
        return reply.code(report.exitCode === 1 ? 500 : 200).send(report);
      } catch (e) {
        if (e instanceof ConflictError) return reply.code(409).send({ error: e.message });
        return reply.code(500).send({ error: (e as Error).message });
      }
    },
  );

  app.post<{ Params: { name: string } }>('/api/clusters/:name/ack', async (req, reply) => {
    const c = find(req.params.name, reply);
    if (!c) return;
    return { cluster: c.name, ...(await c.acknowledge()) };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(opts.metrics.contentType);
    return opts.metrics.text();
  });

  await app.listen({ host: opts.host, port: opts.port });
  return app;
}
