/**
 * The API's bearer token: from a file only the owner can read, or from MHA_API_TOKEN —
 * never from the command line, where every local user can read it in the process list.
 */
import { readFileSync, statSync } from 'node:fs';

export const TOKEN_ENV = 'MHA_API_TOKEN';

export class TokenError extends Error {}

export function readTokenFile(path: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    throw new TokenError(`cannot read the token file ${path}: ${(e as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new TokenError(
      `the token file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 ${path}`,
    );
  }
  const token = readFileSync(path, 'utf8').trim();
  if (!token) throw new TokenError(`the token file ${path} is empty`);
  return token;
}

/** --token-file first, then the environment; undefined: no token. */
export function resolveToken(tokenFile: string | undefined, env = process.env): string | undefined {
  if (tokenFile) return readTokenFile(tokenFile);
  const t = env[TOKEN_ENV]?.trim();
  return t ? t : undefined;
}
