/**
 * A TCP forwarder in front of one MySQL server that watches the statements a client sends
 * (COM_QUERY text is plain in the protocol without TLS) and, once a statement matching
 * `pattern` has been executed — its response forwarded to the client — runs `onExecuted()`.
 * The crash tests use it to SIGKILL the manager at an exact point of a failover
 * ("right after RESET SLAVE on this replica"), which timing alone cannot hit.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class StatementTrap {
  /** Statements seen (first 200 characters), for the test's messages. */
  readonly seen: string[] = [];
  fired = false;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(opts: {
    listenHost: string;
    targetHost: string;
    port: number;
    pattern: RegExp;
    onExecuted: () => void;
  }): Promise<StatementTrap> {
    const server = createServer();
    const trap = new StatementTrap(server);
    server.on('connection', (client) => {
      client.on('error', () => {});
      const upstream = connect({ host: opts.targetHost, port: opts.port });
      upstream.on('error', () => {});
      trap.sockets.add(client);
      trap.sockets.add(upstream);
      let armed = false;
      client.on('data', (d) => {
        // COM_QUERY: 3-byte length, sequence, 0x03, the statement.
        if (d.length > 5 && d[4] === 0x03) {
          const sql = d.subarray(5).toString('latin1');
          trap.seen.push(sql.slice(0, 200));
          if (!trap.fired && opts.pattern.test(sql)) armed = true;
        }
        upstream.write(d);
      });
      upstream.on('data', (d) => {
        client.write(d, () => {
          if (armed && !trap.fired) {
            trap.fired = true;
            opts.onExecuted();
          }
        });
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return trap;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
