/**
 * The daemon's structured log: pino, JSON lines to stdout or a file, one child logger per
 * cluster. Every string that goes out passes through the secret mask, because messages
 * carry text from servers, hooks and configuration that the caller cannot vet.
 */
import { type Logger, type LoggerOptions, pino } from 'pino';
import { MASK, redactText } from '../manager/config/index.js';

/** Passwords and tokens the daemon knows; grows as cluster configurations are loaded. */
export class SecretSet {
  private readonly values = new Set<string>();

  add(value: string | undefined): void {
    // One- and two-character "passwords" would mask ordinary text everywhere.
    if (value && value.length >= 3) this.values.add(value);
  }

  mask(text: string): string {
    return redactText(text, this.values);
  }
}

function maskDeep(value: unknown, secrets: SecretSet, depth = 0): unknown {
  if (typeof value === 'string') return secrets.mask(value);
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (value instanceof Error) {
    return { type: value.name, message: secrets.mask(value.message), stack: secrets.mask(value.stack ?? '') };
  }
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = /(pass|passwd|password|pwd|secret|token)$/i.test(k) ? MASK : maskDeep(v, secrets, depth + 1);
  }
  return out;
}

export interface DaemonLoggerOptions {
  /** Append JSON lines here instead of stdout. */
  file?: string;
  level?: string;
  secrets: SecretSet;
}

export function createDaemonLogger(opts: DaemonLoggerOptions): Logger {
  const { secrets } = opts;
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => maskDeep(obj, secrets) as Record<string, unknown>,
    },
    hooks: {
      // The message string bypasses formatters.log: mask it here.
      logMethod(args, method) {
        const masked = args.map((a) => (typeof a === 'string' ? secrets.mask(a) : a)) as Parameters<typeof method>;
        return method.apply(this, masked);
      },
    },
  };
  const dest = opts.file ? pino.destination({ dest: opts.file, append: true, sync: true }) : pino.destination(1);
  return pino(options, dest);
}

/** `Tue Nov 24 23:41:26 2026 - [warning] text` → level and text (ManagerLog's format). */
export function parseManagerLine(line: string): { level: 'debug' | 'info' | 'warn' | 'error'; msg: string } {
  const m = /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} - \[(\w+)\] ([\s\S]*?)\n?$/.exec(line);
  if (!m) return { level: 'info', msg: line.replace(/\n$/, '') };
  const lvl = m[1] === 'warning' ? 'warn' : m[1] === 'debug' ? 'debug' : m[1] === 'error' ? 'error' : 'info';
  return { level: lvl, msg: m[2] };
}
