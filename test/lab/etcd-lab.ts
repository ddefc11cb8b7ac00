/**
 * A three-member etcd cluster for the manager-HA tests: Debian's `etcd-server` (3.4,
 * /usr/bin/etcd), each member with its own data dir under a temp dir, on loopback
 * (127.0.0.1, client ports 23790+, peer ports 23800+) or — with `netns` — inside network
 * namespaces a test created (their own addresses, same ports). Members are started and
 * stopped by PID; every wait is bounded.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ETCD = '/usr/bin/etcd';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Members still running, killed if the test process exits without closing its lab. */
const running = new Set<ChildProcess>();
let exitHook = false;
function killRunning(): void {
  for (const c of running) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

export function etcdAvailable(): boolean {
  return existsSync(ETCD);
}

export interface EtcdMemberSpec {
  name: string;
  host: string;
  clientPort: number;
  peerPort: number;
  /** Run inside this network namespace (`ip netns exec`, which execs etcd in place: the PID is etcd's). */
  netns?: string;
}

export interface EtcdMember extends EtcdMemberSpec {
  dataDir: string;
  child: ChildProcess | undefined;
  output: string;
}

export interface EtcdLab {
  members: EtcdMember[];
  /** `host:port` of every member, as managers are configured. */
  endpoints: string[];
  dir: string;
  /** SIGSTOP / SIGCONT every member: etcd unreachable without losing its state. */
  freeze(frozen: boolean): void;
  /** SIGKILL (default) or SIGTERM one member and wait for it to exit. */
  stopMember(name: string, signal?: NodeJS.Signals): Promise<void>;
  startMember(name: string): Promise<void>;
  /** Waits until `name` (default: any member) reports a healthy cluster (a leader exists). */
  waitHealthy(timeoutMs?: number, name?: string): Promise<void>;
  close(): Promise<void>;
}

export interface EtcdLabOptions {
  members?: EtcdMemberSpec[];
  /** Base client port for the default loopback members (default 23790; peers at +10). */
  basePort?: number;
  keep?: boolean;
}

export function loopbackMembers(basePort = 23790, n = 3): EtcdMemberSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `etcd${i + 1}`,
    host: '127.0.0.1',
    clientPort: basePort + i,
    peerPort: basePort + 10 + i,
  }));
}

/** GET /health over a raw socket (no curl needed), inside the member's namespace when it has one. */
function health(m: EtcdMemberSpec): boolean {
  const script = `exec 3<>/dev/tcp/${m.host}/${m.clientPort} || exit 1; printf 'GET /health HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' >&3; timeout 2 cat <&3`;
  const argv = m.netns ? ['ip', 'netns', 'exec', m.netns, 'bash', '-c', script] : ['bash', '-c', script];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 4000 });
  return /"health":\s*"true"/.test(r.stdout ?? '');
}

export async function startEtcdCluster(opts: EtcdLabOptions = {}): Promise<EtcdLab> {
  const specs = opts.members ?? loopbackMembers(opts.basePort);
  const dir = mkdtempSync(join(tmpdir(), 'mha-etcd-'));
  const url = (h: string, p: number) => `http://${h}:${p}`;
  const initialCluster = specs.map((m) => `${m.name}=${url(m.host, m.peerPort)}`).join(',');
  const members: EtcdMember[] = specs.map((s) => ({ ...s, dataDir: join(dir, s.name), child: undefined, output: '' }));
  const byName = (name: string) => {
    const m = members.find((x) => x.name === name);
    if (!m) throw new Error(`no etcd member ${name}`);
    return m;
  };

  const launch = (m: EtcdMember, state: 'new' | 'existing') => {
    mkdirSync(m.dataDir, { recursive: true, mode: 0o700 });
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${url(m.host, m.clientPort)}`,
      `--advertise-client-urls=${url(m.host, m.clientPort)}`,
      `--listen-peer-urls=${url(m.host, m.peerPort)}`,
      `--initial-advertise-peer-urls=${url(m.host, m.peerPort)}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=${state}`,
      `--initial-cluster-token=mha-lab-${process.pid}`,
      // A loaded 2-core test machine: a longer election timeout keeps the raft leader stable.
      '--heartbeat-interval=100',
      '--election-timeout=1500',
      '--enable-v2=false',
      '--log-level=warn',
      '--logger=zap',
    ];
    const argv = m.netns ? ['ip', 'netns', 'exec', m.netns, ETCD, ...args] : [ETCD, ...args];
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    m.child = child;
    m.output = '';
    running.add(child);
    child.once('exit', () => running.delete(child));
    if (!exitHook) {
      exitHook = true;
      process.on('exit', killRunning);
    }
    const keep = (c: Buffer) => {
      m.output = (m.output + c.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  };

  const stopMember = async (name: string, signal: NodeJS.Signals = 'SIGKILL') => {
    const m = byName(name);
    const c = m.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const ok = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!ok) {
      c.kill('SIGKILL');
      await Promise.race([exited, sleep(5_000)]);
    }
    m.child = undefined;
  };

  const waitHealthy = async (timeoutMs = 30_000, name?: string) => {
    const deadline = Date.now() + timeoutMs;
    const candidates = name ? [byName(name)] : members;
    while (Date.now() < deadline) {
      for (const m of candidates) {
        if (m.child && m.child.exitCode !== null)
          throw new Error(`etcd ${m.name} exited (${m.child.exitCode}): ${m.output.slice(-2000)}`);
        if (m.child && health(m)) return;
      }
      await sleep(250);
    }
    throw new Error(`etcd not healthy within ${timeoutMs} ms: ${members.map((m) => m.output.slice(-500)).join('\n')}`);
  };

  const lab: EtcdLab = {
    members,
    endpoints: members.map((m) => `${m.host}:${m.clientPort}`),
    dir,
    stopMember,
    freeze(frozen) {
      for (const m of members) m.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
    },
    async startMember(name) {
      const m = byName(name);
      if (m.child) return;
      launch(m, 'existing');
      await waitHealthy(30_000, name);
    },
    waitHealthy,
    async close() {
      for (const m of members) m.child?.kill('SIGCONT');
      await Promise.allSettled(members.map((m) => stopMember(m.name)));
      if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const m of members) launch(m, 'new');
    // Every member must serve, not just one: the tests cut managers from single members.
    for (const m of members) await waitHealthy(60_000, m.name);
    return lab;
  } catch (err) {
    await lab.close();
    throw err;
  }
}
