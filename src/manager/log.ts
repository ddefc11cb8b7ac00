import { appendFileSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/** A structured record of every line, for the JSON report and the daemon's API. */
export interface LogRecord {
  time: string;
  level: LogLevel;
  msg: string;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

/** Perl's scalar(localtime): `Tue Nov 24 23:41:26 2026`, MHA's log timestamp. */
export function perlLocaltime(d = new Date()): string {
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/**
 * The manager log in MHA's format (`<localtime> - [level] message`), because operators'
 * scripts grep its key lines; appended to manager_log (reopened per write, so logrotate
 * works) or written to stderr. Anything that looks like a password is masked.
 */
export class ManagerLog {
  readonly records: LogRecord[] = [];
  private readonly secrets: string[] = [];

  constructor(
    private readonly file: string | undefined,
    private readonly minLevel: LogLevel = 'info',
    private readonly echo?: (line: string) => void,
  ) {}

  /** Values that must never appear in the log (passwords). */
  addSecret(value: string | undefined): void {
    if (value && value.length > 0) this.secrets.push(value);
  }

  private mask(s: string): string {
    let out = s;
    for (const secret of this.secrets) out = out.split(secret).join('xxx');
    return out.replace(/(PASSWORD\s*=\s*')[^']*'/gi, "$1xxx'");
  }

  log(level: LogLevel, msg: string): void {
    if (ORDER[level] < ORDER[this.minLevel]) return;
    const text = this.mask(msg);
    this.records.push({ time: new Date().toISOString(), level, msg: text });
    const line = `${perlLocaltime()} - [${level}] ${text}\n`;
    if (this.file) appendFileSync(this.file, line, { mode: 0o600 });
    else process.stderr.write(line);
    this.echo?.(line);
  }

  /** Verbatim block (topology, report), as MHA writes them. */
  raw(text: string): void {
    const t = this.mask(text.endsWith('\n') ? text : `${text}\n`);
    if (this.file) appendFileSync(this.file, t, { mode: 0o600 });
    else process.stderr.write(t);
    this.echo?.(t);
  }

  debug(msg: string): void {
    this.log('debug', msg);
  }
  info(msg: string): void {
    this.log('info', msg);
  }
  warning(msg: string): void {
    this.log('warning', msg);
  }
  error(msg: string): void {
    this.log('error', msg);
  }
}
