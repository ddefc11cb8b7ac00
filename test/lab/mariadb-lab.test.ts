import { afterAll, describe, expect, it } from 'vitest';
import { type MariaDbLab, mariadbAvailable, pidExists, startLab } from './mariadb-lab.js';

// Real servers: skipped, not failed, on machines without MariaDB installed.
describe.skipIf(!mariadbAvailable())('mariadb lab', () => {
  let lab: MariaDbLab | undefined;

  afterAll(async () => {
    await lab?.close();
  });

  it('replicates a row from master to replica and leaves no process behind', async () => {
    lab = await startLab([
      { name: 'master', serverId: 1, logBin: 'mariadb-bin' },
      { name: 'replica', serverId: 2, logBin: 'mariadb-bin', logSlaveUpdates: true, relayLog: 'relay-bin' },
    ]);
    const [master, replica] = lab.instances;
    const pids = lab.instances.map((i) => i.pid);
    expect(pids.every((p) => typeof p === 'number' && pidExists(p))).toBe(true);

    await lab.setupReplication(master, replica, { useGtid: false });
    await lab.query(master, 'CREATE DATABASE labtest');
    await lab.query(master, 'CREATE TABLE labtest.t (id INT PRIMARY KEY, v VARCHAR(32)) ENGINE=InnoDB');
    await lab.query(master, 'INSERT INTO labtest.t VALUES (?, ?)', [1, 'hello']);
    await lab.waitForReplicaCatchUp(replica, master, 30_000);

    expect(await lab.query(replica, 'SELECT id, v FROM labtest.t')).toEqual([{ id: 1, v: 'hello' }]);
    const status = await lab.slaveStatus(replica);
    expect(status?.Using_Gtid).toBe('No');
    expect(Number(status?.Read_Master_Log_Pos)).toBe((await lab.masterStatus(master)).pos);

    const closing = lab;
    lab = undefined;
    await closing.close();
    for (const pid of pids) expect(pidExists(pid as number)).toBe(false);
  });
});
