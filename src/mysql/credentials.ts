import { readFileSync, statSync } from 'node:fs';

/**
 * Where a password comes from, safest first: a file readable only by its owner, then an
 * environment variable, then (MHA compatibility only) a command-line option — which
 * shows in `ps` and is therefore accepted with a warning.
 */
export function resolvePassword(opts: {
  file?: string;
  envVar?: string;
  option?: string;
  warn?: (message: string) => void;
}): string | undefined {
  if (opts.file) {
    const st = statSync(opts.file);
    if ((st.mode & 0o077) !== 0) {
      throw new Error(
        `password file ${opts.file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    return readFileSync(opts.file, 'utf8').replace(/\r?\n$/, '');
  }
  if (opts.envVar && process.env[opts.envVar] !== undefined) return process.env[opts.envVar];
  if (opts.option !== undefined) {
    opts.warn?.(
      'a password given on the command line is visible to other users (ps); prefer a 0600 file or the environment',
    );
    return opts.option;
  }
  return undefined;
}
