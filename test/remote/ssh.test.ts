/**
 * src/remote/ against a real sshd on loopback (test/lab/sshd-lab.ts): commands, timeouts
 * that kill the remote process, connection / login / host-key failures, SshFileAccess
 * byte-for-byte against local reads, and the log engine reading over SSH.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIndexFile } from '../../src/engine/log-files.js';
import { binlogTail, relayTail } from '../../src/engine/log-sources.js';
import { findRelayLogPosition } from '../../src/engine/relay-position-finder.js';
import { type FileAccess, LocalFileAccess } from '../../src/remote/file-access.js';
import { accessFor, HostAccessPool, sshConnectOptions } from '../../src/remote/hosts.js';
import { rangeCommand, SshFileAccess } from '../../src/remote/ssh-file-access.js';
import {
  hostKeyFingerprint,
  KnownHosts,
  knownHostsLine,
  RemoteError,
  type SshConnectOptions,
  SshHost,
  shCommand,
  shQuote,
} from '../../src/remote/ssh-host.js';
import { FIXTURE_ROOT, materializeFixtureDir } from '../fixture-dirs.js';
import { type SshdLab, sshdAvailable, startSshd } from '../lab/sshd-lab.js';

const local = new LocalFileAccess();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function expectRemoteError(p: Promise<unknown>): Promise<RemoteError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RemoteError);
  return e as RemoteError;
}

/** PIDs of local processes whose argv is exactly `argv` (sshd runs here, so remote = local). */
function pidsWithArgv(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1') === want) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

async function waitGone(argv: string[], ms = 3000): Promise<number[]> {
  let pids = pidsWithArgv(argv);
  for (let i = 0; i < ms / 50 && pids.length > 0; i++) {
    await sleep(50);
    pids = pidsWithArgv(argv);
  }
  return pids;
}

describe('shell quoting', () => {
  it('quotes only what needs it', () => {
    expect(shQuote('/var/lib/mysql/mariadb-bin.000001')).toBe('/var/lib/mysql/mariadb-bin.000001');
    expect(shQuote('')).toBe("''");
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    expect(shCommand(['cat', '--', 'a b'])).toBe("cat -- 'a b'");
  });

  it('round-trips through a real shell', () => {
    for (const s of ["it's", 'a "b" $HOME `id` \\ ; & | * ?', 'new\nline', '-n', '', 'ünï']) {
      const out = execFileSync('sh', ['-c', `printf %s ${shQuote(s)}`], { encoding: 'utf8' });
      expect(out).toBe(s);
    }
  });

  it('range commands', () => {
    expect(rangeCommand('/x/y')).toBe('cat -- /x/y');
    expect(rangeCommand('/x/y', 10, 20)).toBe(
      'dd if=/x/y bs=1M iflag=skip_bytes,count_bytes skip=10 count=10 status=none',
    );
    expect(rangeCommand("/x/it's", 5)).toBe(
      `dd 'if=/x/it'\\''s' bs=1M iflag=skip_bytes,count_bytes skip=5 status=none`,
    );
  });
});

describe('known_hosts parsing', () => {
  const key = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), randomBytes(36)]);
  const other = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), randomBytes(36)]);
  const b64 = key.toString('base64');

  it('plain names, [host]:port, wildcards and negation', () => {
    const kh = KnownHosts.parse(
      [
        '# comment',
        `db1,10.0.0.1 ssh-ed25519 ${b64}`,
        `[db2]:2222 ssh-ed25519 ${b64}`,
        `*.example.com,!bad.example.com ssh-ed25519 ${b64}`,
        '',
      ].join('\n'),
    );
    expect(kh.check('db1', 22, key).status).toBe('match');
    expect(kh.check('DB1', 22, key).status).toBe('match');
    expect(kh.check('10.0.0.1', 22, key).status).toBe('match');
    expect(kh.check('db1', 2222, key).status).toBe('unknown');
    expect(kh.check('db2', 2222, key).status).toBe('match');
    expect(kh.check('db2', 22, key).status).toBe('unknown');
    expect(kh.check('x.example.com', 22, key).status).toBe('match');
    expect(kh.check('bad.example.com', 22, key).status).toBe('unknown');
    expect(kh.check('db1', 22, other).status).toBe('changed');
  });

  it('hashed names, and @revoked', () => {
    const kh = KnownHosts.parse(
      [
        knownHostsLine('db3', 22, key, { hash: true }),
        knownHostsLine('127.0.0.21', 2200, key, { hash: true }),
        `@revoked * ${other.toString('base64').replace(/^/, 'ssh-ed25519 ')}`,
      ].join('\n'),
    );
    expect(kh.entries[0].hosts.startsWith('|1|')).toBe(true);
    expect(kh.check('db3', 22, key).status).toBe('match');
    expect(kh.check('db4', 22, key).status).toBe('unknown');
    expect(kh.check('127.0.0.21', 2200, key).status).toBe('match');
    expect(kh.check('db3', 22, other).status).toBe('revoked');
  });

  it('fingerprints as ssh-keygen prints them', () => {
    expect(hostKeyFingerprint(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe('host access configuration', () => {
  it('local only when configured so; loopback addresses are remote hosts', async () => {
    expect(accessFor({ local: true, host: 'db1' })).toBeInstanceOf(LocalFileAccess);
    const remote = accessFor({ host: '127.0.0.11', port: 2222, user: 'root' });
    expect(remote).toBeInstanceOf(SshFileAccess);
    expect(remote.description).toBe('ssh root@127.0.0.11:2222');
    await remote.close?.();
  });

  it('maps the configuration loader’s SSH settings', () => {
    const o = sshConnectOptions({
      host: 'db1',
      ip: '10.0.0.1',
      port: 2200,
      user: 'mha',
      connectionTimeoutSec: 3,
      options: {
        identityFiles: ['/k1'],
        userKnownHostsFile: '/a /b',
        strictHostKeyChecking: 'ask',
        serverAliveIntervalSec: 7,
        serverAliveCountMax: 2,
      },
    });
    expect(o).toMatchObject({
      host: 'db1',
      address: '10.0.0.1',
      port: 2200,
      user: 'mha',
      connectTimeoutMs: 3000,
      identityFiles: ['/k1'],
      knownHostsFile: ['/a', '/b'],
      strictHostKeyChecking: 'yes',
      keepalive: { intervalMs: 7000, countMax: 2 },
    });
  });
});

describe.skipIf(!sshdAvailable())('over a real sshd on loopback', () => {
  let lab: SshdLab;
  let host: SshHost;
  let opts: SshConnectOptions;
  let scratch: string;
  const cleanups: (() => void | Promise<void>)[] = [];

  beforeAll(async () => {
    lab = await startSshd({ addresses: ['127.0.0.21'] });
    opts = {
      host: lab.host,
      port: lab.port,
      user: 'root',
      identityFiles: [lab.identityFile],
      knownHostsFile: lab.knownHostsFile,
      strictHostKeyChecking: 'yes',
      connectTimeoutMs: 10_000,
    };
    host = await SshHost.connect(opts);
    scratch = mkdtempSync(join(tmpdir(), 'mha-ssh-test-'));
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    await host?.close();
    await lab?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  describe('SshHost', () => {
    it('exec: stdout, stderr and exit code', async () => {
      const r = await host.exec('echo out; echo err >&2; exit 3');
      expect(r).toEqual({ code: 3, signal: undefined, stdout: 'out\n', stderr: 'err' });
      const ok = await host.exec(`printf %s ${shQuote("a 'quoted' $word")}`);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toBe("a 'quoted' $word");
      expect(await host.run('echo hi')).toBe('hi\n');
      const failed = await expectRemoteError(host.run('echo nope >&2; exit 4'));
      expect(failed).toMatchObject({ stage: 'exec', exitCode: 4, stderr: 'nope', host: lab.host, port: lab.port });
    });

    it('exec with stdin, and binary stdout', async () => {
      expect((await host.exec('tr a-z A-Z', { stdin: 'hello' })).stdout).toBe('HELLO');
      const bytes = randomBytes(100_000);
      const path = join(scratch, 'bin');
      writeFileSync(path, bytes);
      expect((await host.execBuffer(`cat ${path}`)).stdout.equals(bytes)).toBe(true);
    });

    it('exec timeout: a RemoteError of stage timeout, and the remote process is gone', async () => {
      const t0 = Date.now();
      const e = await expectRemoteError(host.exec('sleep 7.31', { timeoutMs: 500 }));
      expect(e.stage).toBe('timeout');
      expect(e.timedOut).toBe(true);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await waitGone(['sleep', '7.31'])).toEqual([]);
    });

    it('exec idle timeout: silence after output', async () => {
      const e = await expectRemoteError(
        host.exec('echo started; sleep 7.32; echo never', { timeoutMs: 0, idleTimeoutMs: 400 }),
      );
      expect(e.stage).toBe('timeout');
      expect(e.message).toMatch(/wrote nothing for 400 ms/);
      expect(await waitGone(['sleep', '7.32'])).toEqual([]);
    });

    it('a timed-out pipeline is killed whole', async () => {
      await expectRemoteError(host.exec('sleep 7.34 | sleep 7.35', { timeoutMs: 500 }));
      expect(await waitGone(['sleep', '7.34'])).toEqual([]);
      expect(await waitGone(['sleep', '7.35'])).toEqual([]);
    });

    it('more concurrent commands than channels wait their turn', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => host.exec(`echo ${i}`)));
      expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    });

    it('execStream: a failing command errors the stream with its stderr', async () => {
      const err = await collect(host.execStream('echo partial; echo broken >&2; exit 2')).catch((e) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect(err).toMatchObject({ stage: 'exec', exitCode: 2, stderr: 'broken' });
    });

    it('execStream: idle timeout, and destroying the stream kills the command', async () => {
      const idle = await collect(host.execStream('echo a; sleep 7.36', { idleTimeoutMs: 400 })).catch((e) => e);
      expect(idle).toBeInstanceOf(RemoteError);
      expect((idle as RemoteError).stage).toBe('timeout');
      expect(await waitGone(['sleep', '7.36'])).toEqual([]);

      const s = host.execStream('echo first; sleep 7.37');
      const first = await new Promise<Buffer>((resolve, reject) => {
        s.once('data', resolve);
        s.once('error', reject);
      });
      expect(first.toString()).toBe('first\n');
      s.destroy();
      expect(await waitGone(['sleep', '7.37'])).toEqual([]);
    });

    it('unreachable host: a connect error, quickly', async () => {
      const t0 = Date.now();
      const e = await expectRemoteError(SshHost.connect({ ...opts, host: '127.0.0.29', connectTimeoutMs: 3000 }));
      expect(e.stage).toBe('connect');
      expect(e.message).toMatch(/refused|nothing listens/);
      expect(Date.now() - t0).toBeLessThan(3000);
    });

    it('a server that never speaks: connect timeout, bounded', async () => {
      const sockets = new Set<Socket>();
      const silent: Server = createServer((s) => {
        sockets.add(s);
        s.on('error', () => undefined);
      });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.22', r));
      const port = (silent.address() as { port: number }).port;
      try {
        const t0 = Date.now();
        const e = await expectRemoteError(
          SshHost.connect({ ...opts, host: '127.0.0.22', port, connectTimeoutMs: 600 }),
        );
        expect(e).toMatchObject({ stage: 'connect', timedOut: true });
        expect(Date.now() - t0).toBeLessThan(3000);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise<void>((r) => silent.close(() => r()));
      }
    });

    it('wrong key: an auth error', async () => {
      const wrong = join(scratch, 'wrong_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
      const e = await expectRemoteError(SshHost.connect({ ...opts, identityFiles: [wrong] }));
      expect(e.stage).toBe('auth');
      expect(e.message).toContain('authorized_keys');
      const missing = await expectRemoteError(SshHost.connect({ ...opts, identityFiles: [join(scratch, 'nope')] }));
      expect(missing.stage).toBe('auth');
    });

    it('unknown host key with strict checking: a hostkey error', async () => {
      const empty = join(scratch, 'known_hosts_empty');
      writeFileSync(empty, '');
      const e = await expectRemoteError(SshHost.connect({ ...opts, knownHostsFile: empty }));
      expect(e.stage).toBe('hostkey');
      expect(e.message).toMatch(/is not in/);
      expect(readFileSync(empty, 'utf8')).toBe('');
    });

    it('changed host key: a hostkey error, also under accept-new', async () => {
      const other = join(scratch, 'other_host_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      const pub = readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
      const changed = join(scratch, 'known_hosts_changed');
      writeFileSync(changed, `[${lab.host}]:${lab.port} ${pub}\n`);
      for (const strict of ['yes', 'accept-new'] as const) {
        const e = await expectRemoteError(
          SshHost.connect({ ...opts, knownHostsFile: changed, strictHostKeyChecking: strict }),
        );
        expect(e.stage).toBe('hostkey');
        expect(e.message).toMatch(/changed/);
      }
      // StrictHostKeyChecking=no lets it through, with a warning.
      const warnings: string[] = [];
      const h = await SshHost.connect({
        ...opts,
        knownHostsFile: changed,
        strictHostKeyChecking: 'no',
        onWarning: (w) => warnings.push(w),
      });
      await h.close();
      expect(warnings.join()).toMatch(/differs/);
    });

    it('hashed known_hosts entries (ssh-keygen -H)', async () => {
      const hashed = join(scratch, 'known_hosts_hashed');
      writeFileSync(hashed, readFileSync(lab.knownHostsFile));
      execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });
      expect(readFileSync(hashed, 'utf8')).toMatch(/^\|1\|/);
      const h = await SshHost.connect({ ...opts, knownHostsFile: hashed });
      expect((await h.exec('echo ok')).stdout).toBe('ok\n');
      await h.close();
    });

    it('accept-new records an unknown host, which strict checking then accepts', async () => {
      const file = join(scratch, 'known_hosts_new');
      const warnings: string[] = [];
      const h = await SshHost.connect({
        ...opts,
        knownHostsFile: file,
        strictHostKeyChecking: 'accept-new',
        onWarning: (w) => warnings.push(w),
      });
      await h.close();
      expect(readFileSync(file, 'utf8')).toBe(`[${lab.host}]:${lab.port} ${lab.hostPublicKey}\n`);
      expect(warnings.join()).toMatch(/added/);
      const again = await SshHost.connect({ ...opts, knownHostsFile: file, strictHostKeyChecking: 'yes' });
      await again.close();
      // OpenSSH agrees with the line we wrote.
      const out = execFileSync(
        'ssh',
        [
          '-i',
          lab.identityFile,
          '-o',
          `UserKnownHostsFile=${file}`,
          '-o',
          'StrictHostKeyChecking=yes',
          '-o',
          'BatchMode=yes',
          '-p',
          String(lab.port),
          `root@${lab.host}`,
          'echo openssh-ok',
        ],
        { encoding: 'utf8', timeout: 20_000 },
      );
      expect(out).toBe('openssh-ok\n');
    });
  });

  describe('SshFileAccess', () => {
    const binlog = join(FIXTURE_ROOT, 'mariadb-10.11/master/mariadb-bin.000001');
    const dir = join(FIXTURE_ROOT, 'mariadb-10.11/master');
    let accesses: Record<'auto' | 'exec' | 'sftp', SshFileAccess>;

    beforeAll(() => {
      accesses = {
        auto: new SshFileAccess(host),
        exec: new SshFileAccess(host, { streamMethod: 'exec' }),
        sftp: new SshFileAccess(host, { streamMethod: 'sftp' }),
      };
    });

    it('list, size, exists, readText equal local', async () => {
      const ssh = accesses.auto;
      expect((await ssh.list(dir)).sort()).toEqual((await local.list(dir)).sort());
      expect(await ssh.size(binlog)).toBe(await local.size(binlog));
      expect(await ssh.size(join(dir, 'missing'))).toBeNull();
      expect(await ssh.exists(binlog)).toBe(true);
      expect(await ssh.exists(dir)).toBe(true);
      expect(await ssh.exists(join(dir, 'missing'))).toBe(false);
      const index = join(dir, 'mariadb-bin.index');
      expect(await ssh.readText(index)).toBe(await local.readText(index));
      expect(ssh.description).toBe(`ssh root@${lab.host}:${lab.port}`);
    });

    it('read at offsets equals local, including past EOF', async () => {
      const size = (await local.size(binlog)) as number;
      for (const [pos, len] of [
        [0, 4],
        [4, 19],
        [100, 1000],
        [size - 10, 100],
        [size, 10],
        [size + 5, 10],
        [0, size],
        [1, 200_000],
      ]) {
        const remote = await accesses.auto.read(binlog, pos, len);
        expect(remote.equals(await local.read(binlog, pos, len)), `${pos}+${len}`).toBe(true);
      }
    });

    it('stream with start/end offsets equals local, by every method', async () => {
      const size = (await local.size(binlog)) as number;
      const ranges: [number | undefined, number | undefined][] = [
        [undefined, undefined],
        [0, undefined],
        [4, undefined],
        [1234, undefined],
        [0, size],
        [17, 18],
        [100, 5000],
        [size - 1, size],
        [size, undefined],
        [size, size + 100],
        [3000, size + 100],
      ];
      for (const [name, access] of Object.entries(accesses)) {
        for (const [start, end] of ranges) {
          const got = await collect(access.stream(binlog, start, end));
          const want = await collect(local.stream(binlog, start, end));
          expect(got.equals(want), `${name} ${start}..${end}`).toBe(true);
        }
      }
    });

    it('missing files: errors name host and path, with code ENOENT', async () => {
      const missing = join(dir, 'no-such-binlog.000009');
      for (const [name, access] of Object.entries(accesses)) {
        for (const range of [[], [10], [10, 20]] as const) {
          const err = await collect(access.stream(missing, ...range)).catch((e) => e);
          expect(err, `${name} ${range}`).toBeInstanceOf(RemoteError);
          expect(err.code, name).toBe('ENOENT');
          expect(err.message).toContain(missing);
          expect(err.message).toContain(lab.host);
        }
      }
      for (const p of [
        accesses.auto.read(missing, 0, 10),
        accesses.auto.readText(missing),
        accesses.auto.list(missing),
      ]) {
        const e = await expectRemoteError(p);
        expect(e.code).toBe('ENOENT');
        expect(e.message).toContain(missing);
      }
    });

    it('copyTo copies the whole file', async () => {
      const to = join(scratch, 'copied.bin');
      await accesses.auto.copyTo(binlog, to);
      expect(readFileSync(to).equals(readFileSync(binlog))).toBe(true);
      const e = await expectRemoteError(accesses.auto.copyTo(join(dir, 'missing'), join(scratch, 'x')));
      expect(e.code).toBe('ENOENT');
    });

    it('connects on first use and reconnects after the connection drops', async () => {
      const access = new SshFileAccess(opts);
      try {
        expect(await access.size(binlog)).toBe(await local.size(binlog));
        const first = await access.host();
        await first.close();
        expect(first.closed).toBe(true);
        expect(await access.size(binlog)).toBe(await local.size(binlog));
        expect(await access.host()).not.toBe(first);
        expect((await collect(access.stream(binlog, 0, 10))).length).toBe(10);
      } finally {
        await access.close();
      }
    });

    it('a pool shares one connection per host', async () => {
      const pool = new HostAccessPool({
        ssh: { identityFiles: [lab.identityFile], knownHostsFile: lab.knownHostsFile },
      });
      try {
        const cfg = { host: lab.host, port: lab.port, user: 'root' };
        const a = pool.accessFor(cfg);
        expect(pool.accessFor({ ...cfg })).toBe(a);
        expect(pool.accessFor({ local: true, host: 'x' })).toBeInstanceOf(LocalFileAccess);
        expect(await a.size(binlog)).toBe(await local.size(binlog));
      } finally {
        await pool.closeAll();
      }
    });

    it('a 50 MB file streams byte-identical; throughput of exec vs sftp is printed', async () => {
      const big = join(scratch, 'big.bin');
      const size = 50 * 1024 * 1024;
      writeFileSync(big, randomBytes(size));
      const want = createHash('sha256').update(readFileSync(big)).digest('hex');
      const sha = async (s: Readable) => {
        const h = createHash('sha256');
        let n = 0;
        for await (const c of s) {
          h.update(c as Buffer);
          n += (c as Buffer).length;
        }
        return { digest: h.digest('hex'), n };
      };
      const rows: string[] = [];
      const timed = async (label: string, f: () => Promise<void>) => {
        const t0 = performance.now();
        await f();
        const ms = performance.now() - t0;
        rows.push(
          `${label.padEnd(44)} ${String(Math.round(ms)).padStart(6)} ms ${(size / 1048576 / (ms / 1000)).toFixed(0).padStart(5)} MiB/s`,
        );
      };
      await timed('exec stream (cat)', async () => {
        expect(await sha(accesses.exec.stream(big))).toEqual({ digest: want, n: size });
      });
      await timed('exec stream (dd, start/end)', async () => {
        expect(await sha(accesses.exec.stream(big, 0, size))).toEqual({ digest: want, n: size });
      });
      await timed('sftp pipelined stream (32 x 64 KiB)', async () => {
        expect(await sha(accesses.sftp.stream(big))).toEqual({ digest: want, n: size });
      });
      await timed('ssh2 sftp.createReadStream (1 request)', async () => {
        const sftp = await host.sftp();
        expect(await sha(sftp.createReadStream(big) as unknown as Readable)).toEqual({ digest: want, n: size });
      });
      await timed('copyTo (sftp fastGet) + local read', async () => {
        const to = join(scratch, 'big.copy');
        await accesses.auto.copyTo(big, to);
        expect(createHash('sha256').update(readFileSync(to)).digest('hex')).toBe(want);
        rmSync(to);
      });
      const mid = await collect(accesses.exec.stream(big, 12_345_678, 12_345_678 + 3_000_000));
      expect(mid.equals(readFileSync(big).subarray(12_345_678, 12_345_678 + 3_000_000))).toBe(true);
      console.log(`SSH read throughput, 50 MiB over loopback:\n${rows.join('\n')}`);
      rmSync(big);
    });
  });

  describe('the log engine over SSH', () => {
    const fxMaster = materializeFixtureDir('mariadb-10.11/master');
    const fxRelay = materializeFixtureDir('mariadb-10.11/replica');
    cleanups.push(fxMaster.cleanup, fxRelay.cleanup);
    const masterFiles = parseIndexFile(readFileSync(join(fxMaster.dir, 'mariadb-bin.index'), 'utf8'));
    const relayFiles = parseIndexFile(readFileSync(join(fxRelay.dir, 'relay-bin.index'), 'utf8'));
    let ssh: FileAccess;

    beforeAll(() => {
      ssh = new SshFileAccess(host);
    });

    const summary = async (
      events: AsyncIterable<{ file: string | undefined; offset: number; typeCode: number; raw: Buffer }>,
    ) => {
      const out: string[] = [];
      const h = createHash('sha256');
      for await (const e of events) {
        out.push(`${e.file}:${e.offset}:${e.typeCode}`);
        h.update(e.raw);
      }
      return { keys: out, digest: h.digest('hex') };
    };

    it('binlogTail gives the same events as locally', async () => {
      // Start positions must be event boundaries: take some from a local scan.
      const all = await summary(binlogTail({ access: local, dir: fxMaster.dir, files: masterFiles, startPos: 4 }));
      const boundary = (fileIndex: number, nth: number) => {
        const offsets = all.keys
          .filter((k) => k.includes(`/${masterFiles[fileIndex]}:`))
          .map((k) => Number(k.split(':')[1]))
          .filter((o) => o > 4);
        return offsets[Math.min(nth, offsets.length - 1)];
      };
      const starts: [number, number][] = [
        [0, 4],
        [0, boundary(0, 5)],
        [2, 4],
        [3, boundary(3, 2)],
        [masterFiles.length - 1, boundary(masterFiles.length - 1, 3)],
      ];
      for (const [fileIndex, startPos] of starts) {
        const req = { dir: fxMaster.dir, files: masterFiles.slice(fileIndex), startPos };
        const remoteTail = { partialTail: false };
        const localTail = { partialTail: false };
        const remote = await summary(binlogTail({ ...req, access: ssh, tail: remoteTail }));
        const loc = await summary(binlogTail({ ...req, access: local, tail: localTail }));
        expect(remote.keys.length).toBeGreaterThan(0);
        expect(remote).toEqual(loc);
        expect(remoteTail).toEqual(localTail);
      }
    });

    it('relayTail gives the same events as locally', async () => {
      const req = { dir: fxRelay.dir, files: relayFiles.slice(3), offset: 4 };
      expect(await summary(relayTail({ ...req, access: ssh }))).toEqual(
        await summary(relayTail({ ...req, access: local })),
      );
    });

    it('findRelayLogPosition gives the same answers as locally', async () => {
      const targets: { file: string; pos: number }[] = [];
      for (const f of masterFiles) {
        const size = (await local.size(join(fxMaster.dir, f))) as number;
        targets.push({ file: f, pos: 4 }, { file: f, pos: Math.floor(size / 2) }, { file: f, pos: size });
      }
      targets.push({ file: 'mariadb-bin.000009', pos: 400 });
      let found = 0;
      for (const target of targets) {
        const req = { relayDir: fxRelay.dir, relayFiles, target };
        const remote = await findRelayLogPosition({ ...req, access: ssh });
        const loc = await findRelayLogPosition({ ...req, access: local });
        expect(remote, `${target.file}:${target.pos}`).toEqual(loc);
        if (remote.status === 'found') found++;
      }
      expect(found).toBeGreaterThan(0);
    });
  });
});
