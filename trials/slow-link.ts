/**
 * A TCP forwarder that delivers the server's bytes slowly (a pause after every chunk), so
 * a replica receives a big transaction over seconds and a `STOP SLAVE IO_THREAD` can be
 * timed to land inside it: the replica's relay log then ends mid-transaction, as when a
 * master dies while sending one.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class SlowLink {
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(opts: {
    listenHost: string;
    targetHost: string;
    port: number;
    pauseMs: number;
  }): Promise<SlowLink> {
    const server = createServer();
    const link = new SlowLink(server);
    server.on('connection', (client) => {
      const up = connect({ host: opts.targetHost, port: opts.port });
      for (const s of [client, up]) {
        s.on('error', () => {});
        link.sockets.add(s);
      }
      client.pipe(up);
      up.on('data', (d) => {
        up.pause();
        client.write(d, () => setTimeout(() => up.resume(), opts.pauseMs));
      });
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return link;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
