/**
 * A replication cluster as an operator has it: a master and replicas on their own
 * addresses (127.0.0.11, .12, …, each MariaDB on port 3306), sshd on the same addresses,
 * and an MHA-style app1.cnf describing them. Used by the failover tests and the demo.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type InstanceOptions, type MariaDbLab, startLab } from './mariadb-lab.js';
import { type SshdLab, startSshd } from './sshd-lab.js';

export interface ClusterLab {
  lab: MariaDbLab;
  sshd: SshdLab;
  dir: string;
  confFile: string;
  workdir: string;
  managerLog: string;
  hosts: string[];
  close(): Promise<void>;
}

export interface ClusterOptions {
  replicas?: number;
  /** First address's last octet (default 11 → 127.0.0.11). */
  firstOctet?: number;
  instance?: Partial<InstanceOptions>;
  /** Extra lines for [server default] and per server (index 0 = master). */
  serverDefault?: string[];
  perServer?: string[][];
  /** Root password on every server (and `password=` in app1.cnf). Default empty. */
  rootPassword?: string;
  /** Replication account (`repl_user=` / `repl_password=`). Default: the lab's. */
  replUser?: string;
  replPassword?: string;
  /** Indexes of hosts (0 = master) whose address gets no sshd: SSH to them is refused, as with a stopped sshd. */
  noSshd?: number[];
  keep?: boolean;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<ClusterLab> {
  const n = 1 + (opts.replicas ?? 2);
  const first = opts.firstOctet ?? 11;
  const hosts = Array.from({ length: n }, (_, i) => `127.0.0.${first + i}`);
  const dir = mkdtempSync(join(tmpdir(), 'mha-cluster-'));
  chmodSync(dir, 0o711); // mariadbd runs as mysql and must reach its datadir below
  const common: InstanceOptions = {
    logSlaveUpdates: true,
    binlogFormat: 'ROW',
    maxAllowedPacket: '64M',
    port: 3306,
    ...opts.instance,
  };
  let lab: MariaDbLab | undefined;
  let sshd: SshdLab | undefined;
  try {
    [lab, sshd] = await Promise.all([
      startLab(
        hosts.map((host, i) => ({ ...common, name: `db${i + 1}`, host, serverId: i + 1 })),
        {
          baseDir: join(dir, 'servers'),
          keep: opts.keep,
          ...(opts.rootPassword !== undefined ? { rootPassword: opts.rootPassword } : {}),
          ...(opts.replUser !== undefined ? { replUser: opts.replUser } : {}),
          ...(opts.replPassword !== undefined ? { replPassword: opts.replPassword } : {}),
        },
      ),
      startSshd({ addresses: hosts.filter((_, i) => !opts.noSshd?.includes(i)), port: 22 }),
    ]);
    for (let i = 1; i < n; i++) {
      await lab.setupReplication(`db1`, `db${i + 1}`);
      await lab.query(`db${i + 1}`, 'SET GLOBAL read_only=1');
    }
    const workdir = join(dir, 'work');
    const managerLog = join(dir, 'manager.log');
    const lines = [
      '# Written by the test cluster lab; an ordinary MHA app1.cnf.',
      '[server default]',
      'user=root',
      `password=${opts.rootPassword ?? ''}`,
      `repl_user=${lab.replicationUser.user}`,
      `repl_password=${lab.replicationUser.password}`,
      'ssh_user=root',
      `ssh_options=-i ${sshd.identityFile} -o UserKnownHostsFile=${sshd.knownHostsFile} -o StrictHostKeyChecking=yes -o ConnectTimeout=3`,
      `manager_workdir=${workdir}`,
      `manager_log=${managerLog}`,
      `remote_workdir=${join(dir, 'remote')}`,
      'ping_interval=1',
      ...(opts.serverDefault ?? []),
      '',
    ];
    hosts.forEach((host, i) => {
      const inst = lab!.instance(`db${i + 1}`);
      lines.push(
        `[server${i + 1}]`,
        `hostname=${host}`,
        'port=3306',
        `master_binlog_dir=${inst.datadir}`,
        ...(opts.perServer?.[i] ?? []),
        '',
      );
    });
    const confFile = join(dir, 'app1.cnf');
    writeFileSync(confFile, lines.join('\n'), { mode: 0o600 });
    const l = lab;
    const s = sshd;
    return {
      lab: l,
      sshd: s,
      dir,
      confFile,
      workdir,
      managerLog,
      hosts,
      async close() {
        await Promise.allSettled([l.close({ keep: opts.keep }), s.stop()]);
        if (!opts.keep) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.allSettled([lab?.close(), sshd?.stop()]);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
