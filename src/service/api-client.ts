/**
 * The CLI's side of the daemon API (`mha status`, `mha switch --cluster`, `mha ack`): plain
 * fetch, errors that say what to do (start the daemon, give the token, pick a known cluster).
 */
import { resolveToken } from './token.js';

export const DEFAULT_LISTEN = '127.0.0.1:9645';
export const URL_ENV = 'MHA_API_URL';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'unauthorized' | 'not-found' | 'conflict' | 'failed',
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export class ApiClient {
  readonly url: string;
  private readonly token?: string;

  constructor(opts: { url?: string; tokenFile?: string; env?: NodeJS.ProcessEnv }) {
    const env = opts.env ?? process.env;
    this.url = (opts.url ?? env[URL_ENV] ?? `http://${DEFAULT_LISTEN}`).replace(/\/+$/, '');
    this.token = resolveToken(opts.tokenFile, env);
  }

  get<T>(path: string, timeoutMs = 30_000): Promise<T> {
    return this.request<T>('GET', path, undefined, timeoutMs);
  }

  post<T>(path: string, body: unknown, timeoutMs = 300_000): Promise<T> {
    return this.request<T>('POST', path, body, timeoutMs);
  }

  private async request<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new ApiError(
        `the mha daemon at ${this.url} is not reachable (${why}); is \`mha manager --config-dir DIR\` running there? (--url or ${URL_ENV} to point elsewhere)`,
        'unreachable',
      );
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): keep the text for the message.
    }
    if (res.ok) return parsed as T;
    const msg = (parsed as { error?: string })?.error ?? text.slice(0, 200);
    if (res.status === 401) {
      throw new ApiError(
        `${this.url}: 401 unauthorized — the daemon requires a token: --token-file FILE (mode 0600) or MHA_API_TOKEN`,
        'unauthorized',
        401,
        parsed,
      );
    }
    if (res.status === 404) throw new ApiError(msg, 'not-found', 404, parsed);
    if (res.status === 409) throw new ApiError(msg, 'conflict', 409, parsed);
    throw new ApiError(`${this.url}${path}: HTTP ${res.status}: ${msg}`, 'failed', res.status, parsed);
  }
}
