/**
 * What the MHA node tools share: MHA's option syntax (Perl Getopt::Long: `--name=value`,
 * `--name value`, `-name`, unique prefixes, any case; `-` and `_` are interchangeable
 * here), their help text, the version line the MHA manager parses, the output channel,
 * and password handling (environment or 0600 file; an argv password is accepted for
 * compatibility, warned about and scrubbed from the process title).
 */
import { readFileSync, statSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError } from '../exit-codes.js';

/** MHA's node version: the manager greps `version (\d+\.\d+)` out of `--version`. */
export const MHA_NODE_VERSION = '0.58';
export const MHA_TS_VERSION = '0.1.0';

export type OptionKind = 'string' | 'int' | 'flag';

export interface OptionSpec {
  /** MHA spelling, with underscores. */
  name: string;
  kind: OptionKind;
  /** Placeholder shown in help, e.g. FILE. */
  value?: string;
  help: string;
  /** Default as shown in help (the tool applies it). */
  default?: string;
  /** A password: never echoed; using it prints a warning. */
  secret?: boolean;
}

export type ParsedOptions = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {}

/** A tool ended without success: `code` is its exit code, `message` what went wrong. */
export class ToolFailure extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** Where a tool writes: stdout lines (MHA's progress and result lines) and stderr warnings. */
export interface ToolIO {
  out(line: string): void;
  warn(line: string): void;
}

export const stdIO: ToolIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  warn: (line) => process.stderr.write(`${line}\n`),
};

const normalize = (name: string) => name.toLowerCase().replace(/-/g, '_');

/**
 * Parse MHA-style arguments. `help` and `version` are always known. Unknown options,
 * ambiguous prefixes, missing values and non-integers are usage errors (MHA: pod2usage,
 * exit 1). Arguments that are not options are returned in `rest`.
 */
export function parseMhaArgs(
  argv: string[],
  specs: OptionSpec[],
): { opts: ParsedOptions; given: Set<string>; rest: string[] } {
  const all: OptionSpec[] = [
    ...specs,
    { name: 'help', kind: 'flag', help: '' },
    { name: 'version', kind: 'flag', help: '' },
  ];
  const opts: ParsedOptions = {};
  const given = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      rest.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const rawName = eq >= 0 ? body.slice(0, eq) : body;
    const name = normalize(rawName);
    const exact = all.find((s) => s.name === name);
    const candidates = exact ? [exact] : all.filter((s) => s.name.startsWith(name));
    if (candidates.length === 0) throw new UsageError(`Unknown option: ${rawName}`);
    if (candidates.length > 1) {
      throw new UsageError(`Option ${rawName} is ambiguous (${candidates.map((c) => c.name).join(', ')})`);
    }
    const spec = candidates[0];
    given.add(spec.name);
    if (spec.kind === 'flag') {
      if (eq >= 0) throw new UsageError(`Option ${spec.name} does not take an argument`);
      opts[spec.name] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new UsageError(`Option ${spec.name} requires an argument`);
    if (spec.kind === 'int') {
      if (!/^[-+]?\d+$/.test(value)) {
        throw new UsageError(
          `Value "${spec.secret ? 'xxx' : value}" invalid for option ${spec.name} (number expected)`,
        );
      }
      opts[spec.name] = Number(value);
    } else {
      opts[spec.name] = value;
    }
  }
  return { opts, given, rest };
}

/** Help text for the MHA spelling of a tool. */
export function renderHelp(parts: {
  synopsis: string;
  description: string;
  specs: OptionSpec[];
  exitCodes: [number | string, string][];
  notes?: string;
}): string {
  const lines: string[] = [`Usage: ${parts.synopsis}`, '', parts.description, '', 'Options:'];
  const rows = parts.specs.map((s) => {
    const left = `  --${s.name}${s.kind === 'flag' ? '' : `=${s.value ?? (s.kind === 'int' ? 'N' : 'S')}`}`;
    const def = s.default !== undefined ? ` (default: ${s.default})` : '';
    return [left, `${s.help}${def}`];
  });
  rows.push(['  --help', 'show this help'], ['  --version', 'print the version']);
  const width = Math.min(34, Math.max(...rows.map((r) => r[0].length)) + 2);
  for (const [l, r] of rows) {
    lines.push(l.length + 1 > width ? `${l}\n${' '.repeat(width)}${r}` : `${l.padEnd(width)}${r}`);
  }
  lines.push('', 'Exit codes:');
  for (const [c, m] of parts.exitCodes) lines.push(`  ${String(c).padEnd(3)} ${m}`);
  if (parts.notes) lines.push('', parts.notes.trim());
  return `${lines.join('\n')}\n`;
}

export function versionLine(tool: string): string {
  return `${tool} version ${MHA_NODE_VERSION} (mha-ts ${MHA_TS_VERSION}).`;
}

/**
 * MHA's manager escapes passwords for the remote shell and the node unescapes them
 * (NodeUtil::unescape_for_shell): a backslash before one of these characters is dropped.
 */
export function unescapeForShell(s: string): string {
  return s.replace(/\\(["!#&;`|*?~<>^()[\]{}$, \n\xff])/g, '$1');
}

/**
 * The password, safest source first: a 0600 file, then the environment, then (MHA
 * compatibility) the command-line option, which earns a warning because other users
 * can read it in `ps`. The value is never printed.
 */
export function resolveSecret(opts: {
  file?: string;
  envVar: string;
  option?: string;
  optionName: string;
  io: ToolIO;
}): string | undefined {
  if (opts.option !== undefined) {
    opts.io.warn(
      `WARNING: --${opts.optionName} puts the password on the command line, where other users can read it (ps, /proc). ` +
        `Use the ${opts.envVar} environment variable or --password_file=FILE (mode 0600) instead.`,
    );
  }
  if (opts.file) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(opts.file);
    } catch (err) {
      throw new ToolFailure(`cannot read password file ${opts.file}: ${(err as NodeJS.ErrnoException).code}`, 1);
    }
    if ((st.mode & 0o077) !== 0) {
      throw new ToolFailure(
        `password file ${opts.file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
        1,
      );
    }
    return readFileSync(opts.file, 'utf8').replace(/\r?\n$/, '');
  }
  const env = process.env[opts.envVar];
  if (env !== undefined) return env;
  if (opts.option !== undefined) return unescapeForShell(opts.option);
  return undefined;
}

/**
 * Replace secret option values in the process title (/proc/PID/cmdline, what `ps`
 * shows) so the password is visible only for the moment before this runs.
 */
export function scrubSecretsFromTitle(tool: string, argv: string[], specs: OptionSpec[]): void {
  const secrets = specs.filter((s) => s.secret).map((s) => s.name);
  if (secrets.length === 0) return;
  let changed = false;
  const shown: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--?([^=]+)(=?)/.exec(a);
    const name = m ? normalize(m[1]) : '';
    const isSecret = m !== null && secrets.some((s) => s === name || (name.length >= 3 && s.startsWith(name)));
    if (isSecret && m) {
      changed = true;
      if (m[2] === '=') shown.push(`${a.slice(0, a.indexOf('=') + 1)}xxx`);
      else {
        shown.push(a, 'xxx');
        i++;
      }
    } else {
      shown.push(a);
    }
  }
  if (!changed) return;
  try {
    process.title = [tool, ...shown].join(' ');
  } catch {
    // not fatal: the warning has been printed
  }
}

/** Run a tool under its MHA name: parse, --help/--version, MHA-style failure line, exit code. */
export async function runMhaTool(p: {
  tool: string;
  argv: string[];
  specs: OptionSpec[];
  help: () => string;
  /** How MHA prints a failure on stderr, e.g. (m) => `Failed to save binary log: ${m}`. */
  failureLine?: (message: string) => string;
  run: (opts: ParsedOptions, given: Set<string>, io: ToolIO) => Promise<number>;
  io?: ToolIO;
}): Promise<number> {
  const io = p.io ?? stdIO;
  // A closed stdout (a reader that went away) must not kill a save or an apply half-way.
  if (process.stdout.listenerCount('error') === 0) {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  let parsed: ReturnType<typeof parseMhaArgs>;
  try {
    parsed = parseMhaArgs(p.argv, p.specs);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.warn(`${p.tool}: ${err.message}`);
    io.warn(`Try '${p.tool} --help' for the options.`);
    return 1;
  }
  scrubSecretsFromTitle(p.tool, p.argv, p.specs);
  if (parsed.opts.help) {
    process.stdout.write(p.help());
    return 0;
  }
  if (parsed.opts.version) {
    io.out(versionLine(p.tool));
    return 0;
  }
  if (parsed.rest.length > 0) io.warn(`${p.tool}: ignoring extra arguments: ${parsed.rest.join(' ')}`);
  try {
    return await p.run(parsed.opts, parsed.given, io);
  } catch (err) {
    if (err instanceof ToolFailure) {
      io.warn(p.failureLine ? p.failureLine(err.message) : err.message);
      return err.code;
    }
    const e = err as Error;
    io.warn(p.failureLine ? p.failureLine(e.message) : `${p.tool}: ${e.message}`);
    if (process.env.MHA_DEBUG) io.warn(e.stack ?? '');
    return 1;
  }
}

/** Integer option parser for commander (modern spellings). */
export function intArg(v: string): number {
  if (!/^[-+]?\d+$/.test(v)) throw new InvalidArgumentError('must be an integer');
  return Number(v);
}

/**
 * Run a tool under `mha …`: its stdout lines are the same; a failure becomes a CliError
 * with the tool's exit code, so `mha` prints `mha: error: …` once and exits with it.
 */
export async function runModernTool(run: (io: ToolIO) => Promise<number>, successMessage?: string): Promise<void> {
  let code: number;
  try {
    code = await run(stdIO);
  } catch (err) {
    if (err instanceof ToolFailure) throw new CliError(err.message, err.code);
    throw new CliError((err as Error).message, 1);
  }
  if (code !== 0) throw new CliError(successMessage ?? `exit ${code}`, code);
}

/** A commander option list from the same specs, kebab-case, for the `mha` spellings. */
export function addKebabOptions(cmd: Command, specs: OptionSpec[]): Command {
  for (const s of specs) {
    const flag = `--${s.name.replace(/_/g, '-')}`;
    const help = s.default !== undefined ? `${s.help} (default: ${s.default})` : s.help;
    if (s.kind === 'flag') cmd.option(flag, help);
    else if (s.kind === 'int') cmd.option(`${flag} <${s.value ?? 'n'}>`, help, intArg);
    else cmd.option(`${flag} <${s.value ?? 'value'}>`, help);
  }
  return cmd;
}

/** commander's camelCase keys back to MHA's underscore names. */
export function fromCamel(opts: Record<string, unknown>): ParsedOptions {
  const out: ParsedOptions = {};
  for (const [k, v] of Object.entries(opts)) {
    out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v as string | number | boolean | undefined;
  }
  return out;
}

export const str = (o: ParsedOptions, k: string): string | undefined =>
  o[k] === undefined || o[k] === '' ? undefined : String(o[k]);
export const int = (o: ParsedOptions, k: string): number | undefined => (o[k] === undefined ? undefined : Number(o[k]));
export const bool = (o: ParsedOptions, k: string): boolean => o[k] === true || (typeof o[k] === 'number' && o[k] !== 0);

/** Split an ssh_options string as a shell would (quotes and backslashes), without a shell. */
export function shellWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`unbalanced quote in "${s}"`);
  if (inWord) words.push(cur);
  return words;
}

/** `YYYYMMDDhhmmss` in local time, MHA's default timestamp for work file names. */
export function localTimestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** MHA's `current_time` (NodeUtil): `2026-11-24 23:41:26`, local time. */
export function mhaTime(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
