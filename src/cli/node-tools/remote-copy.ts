/**
 * Copying a generated diff to another host with the system `ssh`/`scp`, as MHA's node
 * does (key-based: BatchMode, no password ever involved), verified by md5 and retried.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { shellWords } from './options.js';

/** MHA's SSH_OPT_ALIVE, with host keys accepted on first use instead of never checked. */
export const DEFAULT_SSH_OPTIONS =
  '-o ServerAliveInterval=60 -o ServerAliveCountMax=20 -o StrictHostKeyChecking=accept-new -o ConnectionAttempts=5 -o PasswordAuthentication=no -o ConnectTimeout=10';

export interface SshTarget {
  user: string;
  host: string;
  port: number;
  /** ssh_options as in MHA's configuration (replaces the defaults). */
  sshOptions?: string;
}

function sshBaseArgs(t: SshTarget): string[] {
  // BatchMode always: a prompt would hang a failover.
  return [...shellWords(t.sshOptions ?? DEFAULT_SSH_OPTIONS), '-o', 'BatchMode=yes'];
}

/** Quote for the remote shell. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function run(
  cmd: string,
  args: string[],
  timeoutMs?: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 255
        : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || (err && !stdout ? err.message : '')) });
    });
  });
}

export async function sshExec(t: SshTarget, remoteCommand: string, timeoutMs = 120_000) {
  return run('ssh', [...sshBaseArgs(t), '-p', String(t.port), `${t.user}@${t.host}`, remoteCommand], timeoutMs);
}

export async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * `mkdir -p` the remote directory, then scp the file and compare md5 sums, up to three
 * times (MHA: NodeUtil::file_copy). Throws with the last error.
 */
export async function sendFile(
  t: SshTarget,
  localPath: string,
  remotePath: string,
  log: (line: string) => void,
): Promise<void> {
  const dir = remotePath.replace(/\/[^/]*$/, '') || '/';
  const mk = await sshExec(t, `mkdir -p ${shQuote(dir)}`);
  if (mk.code !== 0) {
    throw new Error(`ssh ${t.user}@${t.host} for mkdir ${dir} failed with rc ${mk.code}:0! ${mk.stderr.trim()}`);
  }
  const local = await md5File(localPath);
  let last = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const cp = await run('scp', [
      ...sshBaseArgs(t),
      '-P',
      String(t.port),
      localPath,
      `${t.user}@${t.host}:${shQuote(remotePath)}`,
    ]);
    if (cp.code !== 0) {
      last = `scp exited with ${cp.code}: ${cp.stderr.trim()}`;
    } else {
      const sum = await sshExec(t, `md5sum ${shQuote(remotePath)}`);
      const remote = sum.stdout.trim().split(/\s+/)[0] ?? '';
      if (sum.code === 0 && remote === local) return;
      last =
        sum.code !== 0
          ? `md5sum on the remote host failed: ${sum.stderr.trim()}`
          : `md5 mismatch (local ${local}, remote ${remote})`;
    }
    log(` scp attempt ${attempt} failed: ${last}`);
  }
  throw new Error(last);
}
