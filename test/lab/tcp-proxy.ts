/**
 * A TCP forwarder the test controls, to cut one route (the manager's) to a server while
 * every other route stays up — a network partition between two hosts, on loopback.
 *
 * `blackhole()` behaves like a partition, not like a dead server: nothing is refused or
 * reset. New connections are accepted and then hear nothing (as if the SYN-ACK had come
 * from a firewall that drops the rest); established connections stop delivering bytes in
 * both directions (the client's are lost, the server's wait); and a close by the client is
 * not passed on, so a server-side session whose client gave up lingers until the server
 * itself times it out, exactly as when the client's FIN/RST is lost in the partition.
 * `restore()` heals the route: new connections are forwarded again; a connection that
 * lived through the partition with both ends open is reset (its stream lost bytes), and a
 * stale server-side session stays as it is.
 *
 * Everything it opens is closed by close(); sockets are destroyed, never left to linger.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxyOptions {
  listenHost: string;
  listenPort: number;
  targetHost: string;
  targetPort: number;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
  clientClosed: boolean;
  upstreamClosed: boolean;
}

export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private holes = false;
  /** Connections accepted while black-holed: never forwarded. */
  private readonly held = new Set<Socket>();
  /** Connections that were forwarded at some point. */
  forwarded = 0;

  private constructor(
    private readonly server: Server,
    readonly opts: TcpProxyOptions,
  ) {}

  static async start(opts: TcpProxyOptions): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, opts);
    server.on('connection', (s) => proxy.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listenPort, opts.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get blackholed(): boolean {
    return this.holes;
  }

  private accept(client: Socket): void {
    client.on('error', () => {});
    if (this.holes) {
      client.pause();
      this.held.add(client);
      client.on('close', () => this.held.delete(client));
      return;
    }
    this.forwarded++;
    const pair: Pair = { client, clientClosed: false, upstreamClosed: false };
    this.pairs.add(pair);
    const upstream = connect({ host: this.opts.targetHost, port: this.opts.targetPort });
    pair.upstream = upstream;
    upstream.on('error', () => {});
    client.on('data', (d) => {
      if (!this.holes && !upstream.destroyed) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!client.destroyed) client.write(d);
    });
    client.on('close', () => {
      pair.clientClosed = true;
      if (!this.holes) upstream.destroy();
      this.forget(pair);
    });
    upstream.on('close', () => {
      pair.upstreamClosed = true;
      if (!this.holes) client.destroy();
      this.forget(pair);
    });
  }

  private forget(pair: Pair): void {
    if ((pair.clientClosed || pair.client.destroyed) && (pair.upstreamClosed || pair.upstream?.destroyed)) {
      this.pairs.delete(pair);
    }
  }

  /** Cut the route: see the module comment for what that means exactly. */
  blackhole(): void {
    this.holes = true;
    for (const p of this.pairs) p.upstream?.pause();
  }

  /** Heal the route (see the module comment). */
  restore(): void {
    this.holes = false;
    for (const s of this.held) s.destroy();
    this.held.clear();
    for (const p of [...this.pairs]) {
      if (!p.clientClosed) {
        p.client.destroy();
        p.upstream?.destroy();
      } else {
        // The client's close was lost: the server keeps its session until its own timeout.
        p.upstream?.resume();
      }
    }
  }

  /** Server-side connections still open whose client already went away (stale sessions). */
  staleUpstreams(): number {
    let n = 0;
    for (const p of this.pairs) if (p.clientClosed && !p.upstreamClosed) n++;
    return n;
  }

  async close(): Promise<void> {
    for (const s of this.held) s.destroy();
    this.held.clear();
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
