import { spawn } from 'node:child_process';
import { shQuote } from '../remote/ssh-host.js';
import { HookCommandError, parseHookCommand } from './hook-command.js';
import type { ManagerLog } from './log.js';

export interface HookResult {
  code: number;
  output: string;
}

/** MHA's `--key=value` arguments as argv entries, in order; `true` is a bare `--key`. */
export function hookArguments(args: Record<string, string | number | boolean | undefined>): string[] {
  const words: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined || v === false) continue;
    words.push(v === true ? `--${k}` : `--${k}=${v}`);
  }
  return words;
}

/**
 * Run a configured command line with extra arguments, without a shell (see hook-command.ts):
 * names from the configuration or from the servers reach the program as argv entries, never as
 * shell code. Exit 127 when the program cannot be found, 126 when it cannot be executed, as sh.
 */
export function runCommand(
  command: string,
  extraArgs: readonly string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; collectOutput?: boolean } = {},
): Promise<HookResult> {
  let argv: string[];
  let assigned: Record<string, string>;
  try {
    ({ argv, env: assigned } = parseHookCommand(command));
  } catch (e) {
    if (!(e instanceof HookCommandError)) throw e;
    return Promise.resolve({ code: 127, output: `cannot run "${command}": ${e.message}` });
  }
  return new Promise((resolve) => {
    const child = spawn(argv[0], [...argv.slice(1), ...extraArgs], {
      env: { ...process.env, ...assigned, ...opts.env },
      stdio: [
        'ignore',
        opts.collectOutput === false ? 'ignore' : 'pipe',
        opts.collectOutput === false ? 'ignore' : 'pipe',
      ],
    });
    let output = '';
    child.stdout?.on('data', (c) => {
      output += c;
    });
    child.stderr?.on('data', (c) => {
      output += c;
    });
    let settled = false;
    const settle = (r: HookResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('close', (code, signal) => settle({ code: code ?? (signal ? 128 : 1), output }));
    child.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code === 'ENOENT' ? 127 : err.code === 'EACCES' ? 126 : 1;
      settle({ code, output: `${argv[0]}: ${err.message}` });
    });
  });
}

/**
 * Run an MHA hook script (`master_ip_failover_script`, `shutdown_script`, …) with MHA's
 * `--key=value` arguments. Passwords MHA put on the command line travel in the
 * environment instead (MHA_ORIG_MASTER_PASSWORD, MHA_NEW_MASTER_PASSWORD), so they never
 * show in `ps`; the argument is still passed, as `xxx`, for scripts that expect it.
 */
export async function runHook(
  log: ManagerLog,
  script: string,
  args: Record<string, string | number | boolean | undefined>,
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HookResult> {
  const words = hookArguments(args);
  // Quoted as a shell would need it, so the logged line can be pasted to rerun the hook by hand.
  log.info(`Executing ${script} ${words.map(shQuote).join(' ')}`);
  const r = await runCommand(script, words, opts);
  if (r.output.trim()) log.raw(r.output.trimEnd());
  return r;
}
