/**
 * The manager's configuration, read the way MHA 0.58 reads it (`MHA::Config::read_config`) and
 * validated with messages that name the file, block, key and line.
 *
 * Layers, lowest first: MHA's built-in defaults → the global file's `[server default]`
 * (`/etc/masterha_default.cnf`) → the application file's `[server default]` → the output of
 * `init_conf_load_script` → each `[serverN]` / `[binlogN]` block. Per-server-only parameters
 * (`hostname`, `ip`, `candidate_master`, ...) are never inherited.
 *
 * Passwords (`password`, `repl_password`), most trusted source first:
 *   1. `password_file=` / `repl_password_file=` — a file of mode 0600 (anything looser is an error);
 *      relative paths are relative to the `.cnf` that names them; one trailing newline is dropped;
 *   2. the environment: `MHA_PASSWORD` / `MHA_REPL_PASSWORD`;
 *   3. `password=` / `repl_password=` in a `.cnf` — accepted as MHA does, with a warning when that
 *      file is readable by group or others.
 * A lower source that is overridden earns a warning. Passwords are held in `Secret`s, which print
 * as `xxx`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, parse as parsePath, resolve as resolvePath } from 'node:path';
import { type HookCommand, HookCommandError, hookCommandProblem, parseHookCommand } from '../hook-command.js';
import { editIniFile, IniDocument, type IniIssue, ROOT_SECTION } from './ini.js';
import {
  type BlockKind,
  DEFAULT_GLOBAL_CONF,
  describeScope,
  isAllowedIn,
  type LogLevel,
  PARAMETER_BY_NAME,
  PASSWORD_ENV,
  type ParameterSpec,
  type ParamValue,
  type PingType,
  REPL_PASSWORD_ENV,
  suggestParameter,
} from './parameters.js';
import { Secret } from './redact.js';
import { parseSshOptions, type SshOptions } from './ssh-options.js';

// ---------------------------------------------------------------------------------------------
// Result types

/** Where a value came from. */
export type ValueSource =
  | { kind: 'file'; file: string; block: string; line: number }
  | { kind: 'init-script'; script: string; line: number }
  | { kind: 'env'; name: string }
  | { kind: 'password-file'; path: string }
  | { kind: 'default' };

export type SourceMap = Partial<Record<string, ValueSource>>;

export function formatSource(s: ValueSource): string {
  switch (s.kind) {
    case 'file':
      return `${s.file}:${s.line} [${s.block}]`;
    case 'init-script':
      return `init_conf_load_script output line ${s.line}`;
    case 'env':
      return `environment variable ${s.name}`;
    case 'password-file':
      return `file ${s.path}`;
    case 'default':
      return 'MHA default';
  }
}

export interface SshTarget {
  /** `ssh_host`, else `hostname`. */
  host: string;
  /** `ssh_ip` as given, else `ip` when SSH goes to `hostname`; resolve `host` when undefined. */
  ip?: string;
  /** `ssh_port` when set, else `-p`/`-o Port=` from ssh_options, else 22. */
  port: number;
  /** `ssh_user` when set, else `-l`/`-o User=` from ssh_options, else the current OS user. */
  user: string;
  /** `ssh_connection_timeout` when set, else `-o ConnectTimeout=`, else 5; mha-ts applies it to every SSH connection. */
  connectionTimeoutSec: number;
  /** The rest of ssh_options (identity files, known hosts, host key policy, keep-alives, ignored options). */
  options: SshOptions;
  /** ssh_options as written in the file. */
  optionsText: string;
}

export interface ServerConfig {
  /** Block name, e.g. `server1`. */
  id: string;
  /** File and line of the block header. */
  file: string;
  line: number;
  hostname: string;
  /** As configured; `undefined` = resolve `hostname`. */
  ip?: string;
  port: number;
  nodeLabel?: string;
  user: string;
  password: Secret;
  replUser?: string;
  replPassword?: Secret;
  candidateMaster: boolean;
  noMaster: boolean;
  ignoreFail: boolean;
  skipInitSshCheck: boolean;
  skipResetSlave: boolean;
  disableLogBin: boolean;
  handleRawBinlog: boolean;
  useGtidAutoPos: boolean;
  masterPidFile?: string;
  remoteWorkdir: string;
  masterBinlogDirs: string[];
  clientBindir?: string;
  clientLibdir?: string;
  ssh: SshTarget;
  /** Where each parameter's value came from, by MHA parameter name. */
  sources: SourceMap;
}

export interface BinlogServerConfig {
  id: string;
  file: string;
  line: number;
  hostname: string;
  ip?: string;
  port: number;
  nodeLabel?: string;
  remoteWorkdir: string;
  masterBinlogDirs: string[];
  clientBindir?: string;
  clientLibdir?: string;
  ssh: SshTarget;
  sources: SourceMap;
}

export interface AppConfig {
  /** Application name: the conf file's base name without extension (`app1.cnf` → `app1`). */
  name: string;
  confFile: string;
  /** The global file actually read, if any. */
  globalConfFile?: string;
  managerWorkdir: string;
  /** `undefined` = log to STDERR. */
  managerLog?: string;
  logLevel: LogLevel;
  checkReplDelay: boolean;
  checkReplFilter: boolean;
  latestPriority: boolean;
  multiTierSlave: boolean;
  pingInterval: number;
  pingType: PingType;
  secondaryCheckScript?: string;
  masterIpFailoverScript?: string;
  masterIpOnlineChangeScript?: string;
  shutdownScript?: string;
  reportScript?: string;
  initConfLoadScript?: string;
  /** Manager HA (mha-ts): etcd endpoints, key prefix and leadership lease TTL (seconds). */
  etcdEndpoints?: readonly string[];
  etcdPrefix: string;
  managerLeaseTtl: number;
  sources: SourceMap;
}

export interface Config {
  app: AppConfig;
  /** In MHA's "config order" (numeric by block number when every block is server<…><digits>). */
  servers: ServerConfig[];
  binlogServers: BinlogServerConfig[];
  warnings: ConfigIssue[];
}

export interface ConfigIssue {
  severity: 'error' | 'warning';
  file?: string;
  block?: string;
  key?: string;
  line?: number;
  message: string;
}

/** `app1.cnf:14 [server2] port: "33o6" is not a number` */
export function formatIssue(i: ConfigIssue): string {
  let head = i.file ?? '';
  if (i.file && i.line) head += `:${i.line}`;
  if (i.block) head += `${head ? ' ' : ''}[${i.block}]`;
  if (i.key) head += `${head ? ' ' : ''}${i.key}`;
  return head ? `${head}: ${i.message}` : i.message;
}

/** The configuration is wrong. Fields describe the first problem; `issues` lists all of them. */
export class ConfigError extends Error {
  readonly file?: string;
  readonly block?: string;
  readonly key?: string;
  readonly line?: number;
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  constructor(issues: ConfigIssue[], warnings: ConfigIssue[] = []) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    const first = issues[0];
    this.file = first?.file;
    this.block = first?.block;
    this.key = first?.key;
    this.line = first?.line;
    this.issues = issues;
    this.warnings = warnings;
  }
}

export interface LoadConfigOptions {
  /** The application file (`--conf`). */
  appFile: string;
  /**
   * The global defaults file (`--global_conf`). Omitted: `/etc/masterha_default.cnf` when it
   * exists. `null`: none. A given file that does not exist is skipped with a warning, as MHA does.
   */
  globalFile?: string | null;
  /** Environment for MHA_PASSWORD / MHA_REPL_PASSWORD (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default `ssh_user` (default: the current OS user). */
  osUser?: string;
  /** For `~` in ssh_options and password files (default: the current home directory). */
  homeDir?: string;
  /**
   * Runs `init_conf_load_script` and returns its output (default: `/bin/sh -c`, 60 s timeout).
   * `false`: do not run it.
   */
  runInitConfLoadScript?: ((command: string) => string) | false;
}

// ---------------------------------------------------------------------------------------------
// Parsing values

type Parsed = { kind: 'value'; value: ParamValue } | { kind: 'default' } | { kind: 'unset' };

interface Entry {
  spec: ParameterSpec;
  parsed: Parsed;
  source: ValueSource;
}

type Layer = Map<string, Entry>;

interface Located {
  file?: string;
  block?: string;
  line?: number;
}

const LOG_LEVEL_ALIASES: Record<string, LogLevel> = {
  warn: 'warning',
  err: 'error',
  crit: 'critical',
  emerg: 'emergency',
};

/** MHA's `s/^['"]?(.*)['"]$/$1/`: quotes go only when the value ends with one. */
export function stripMhaQuotes(value: string): string {
  const m = /^['"]?(.*)['"]$/.exec(value);
  return m ? m[1] : value;
}

/** A value as written → its typed meaning, or an error message. */
function parseValue(spec: ParameterSpec, raw: string): Parsed | { error: string } {
  let text = raw;
  if (spec.name === 'master_binlog_dir') text = text.replace(/\s/g, '');
  // ssh_options keeps its quotes for the option parser, which understands them.
  if (spec.name !== 'ssh_options') text = stripMhaQuotes(text);
  if (text === '') {
    switch (spec.empty) {
      case 'default':
        return { kind: 'default' };
      case 'false':
        return { kind: 'value', value: false };
      case 'unset':
        return { kind: 'unset' };
      case 'empty':
        return { kind: 'value', value: '' };
      case 'error':
        return {
          error:
            spec.type === 'int' ? 'must be a positive integer, not empty' : `must be one of ${spec.values?.join(', ')}`,
        };
    }
  }
  switch (spec.type) {
    case 'int': {
      if (!/^\d+$/.test(text)) return { error: `"${text}" is not a number` };
      const n = Number(text);
      if (spec.min !== undefined && n < spec.min) {
        return {
          error: spec.min === 1 && spec.max === undefined ? `${n} must be a positive integer` : outOfRange(spec, n),
        };
      }
      if (spec.max !== undefined && n > spec.max) return { error: outOfRange(spec, n) };
      return { kind: 'value', value: n };
    }
    case 'bool':
      if (text === '0') return { kind: 'value', value: false };
      if (text === '1') return { kind: 'value', value: true };
      return { error: `"${text}" must be 0 or 1` };
    case 'enum': {
      if (spec.name === 'ping_type') {
        const v = text.toUpperCase();
        if (spec.values?.includes(v)) return { kind: 'value', value: v };
      } else {
        const lower = text.toLowerCase();
        const v = LOG_LEVEL_ALIASES[lower] ?? lower;
        if (spec.values?.includes(v)) return { kind: 'value', value: v };
      }
      return { error: `"${text}" must be one of ${spec.values?.join(', ')}` };
    }
    case 'list': {
      const items = text.split(',').filter((s) => s !== '');
      return items.length === 0 ? { kind: 'default' } : { kind: 'value', value: Object.freeze(items) };
    }
    case 'string':
      return { kind: 'value', value: text };
  }
}

function outOfRange(spec: ParameterSpec, n: number): string {
  return `${n} is out of range (${spec.min ?? 0}-${spec.max ?? 'any'})`;
}

// ---------------------------------------------------------------------------------------------
// Loading

interface BlockInput {
  name: string;
  kind: 'server' | 'binlog';
  file: string;
  line: number;
  layer: Layer;
}

class Loader {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  readonly #warned = new Set<string>();
  readonly #passwordFiles = new Map<string, { secret?: Secret; error?: string }>();

  constructor(readonly opts: LoadConfigOptions) {}

  error(at: Located, key: string | undefined, message: string): void {
    this.errors.push({ severity: 'error', file: at.file, block: at.block, key, line: at.line, message });
  }

  /** Each distinct warning once. */
  warn(at: Located, key: string | undefined, message: string): void {
    const issue: ConfigIssue = { severity: 'warning', file: at.file, block: at.block, key, line: at.line, message };
    const id = formatIssue(issue);
    if (this.#warned.has(id)) return;
    this.#warned.add(id);
    this.warnings.push(issue);
  }

  iniIssues(file: string, issues: readonly IniIssue[]): void {
    for (const i of issues) {
      const at = { file, block: i.section, line: i.line };
      if (i.severity === 'error') this.error(at, i.key, i.message);
      else this.warn(at, i.key, i.message);
    }
  }

  /** Validate one block's entries into a layer. */
  layer(doc: IniDocument, file: string, block: string, kind: BlockKind): Layer {
    const layer: Layer = new Map();
    for (const e of doc.section(block)?.entries ?? []) {
      const at = { file, block, line: e.line };
      const spec = this.spec(at, e.key);
      if (!spec) continue;
      if (!isAllowedIn(spec, kind)) {
        const where =
          kind === 'server' ? 'a [serverN] block' : kind === 'binlog' ? 'a [binlogN] block' : '[server default]';
        const mha = spec.scope === 'L' && (kind === 'app-default' || kind === 'global-default');
        this.error(
          at,
          e.key,
          `not allowed in ${where}: ${describeScope(spec)}${mha ? ' (MHA 0.58 silently ignores it there)' : ''}`,
        );
        continue;
      }
      if (kind === 'global-default' && spec.scope === 'A') {
        this.warn(at, e.key, 'is an application setting; every application reading this global file shares it');
      }
      const parsed = parseValue(spec, e.value);
      if ('error' in parsed) {
        this.error(at, e.key, parsed.error);
        continue;
      }
      layer.set(spec.name, { spec, parsed, source: { kind: 'file', file, block, line: e.line } });
    }
    return layer;
  }

  spec(at: Located, key: string): ParameterSpec | undefined {
    const spec = PARAMETER_BY_NAME.get(key);
    if (spec) return spec;
    if (key.endsWith('[]')) {
      this.error(at, key, 'list syntax (key[]=) is not supported');
      return undefined;
    }
    const hint = suggestParameter(key);
    this.error(at, key, `unknown parameter${hint ? ` — did you mean "${hint}"?` : ''}`);
    return undefined;
  }

  /** Warn when a file holding a password can be read by other users (MHA accepts it; so do we). */
  checkPasswordFilePermissions(path: string, doc: IniDocument): void {
    const entry = doc
      .sections()
      .flatMap((s) => s.entries.map((e) => ({ ...e, block: s.name })))
      .find((e) => (e.key === 'password' || e.key === 'repl_password') && stripMhaQuotes(e.value) !== '');
    if (!entry) return;
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      return;
    }
    if ((mode & 0o077) !== 0) {
      this.warn(
        { file: path, block: entry.block === ROOT_SECTION ? undefined : entry.block, line: entry.line },
        entry.key,
        // manager_log shows only the message, so it names the file itself.
        `${path} holds a password and other users may read it (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): ` +
          `chmod 600 ${path}, or move the password to ${entry.key}_file= (a mode 0600 file) or ` +
          (entry.key === 'repl_password' ? REPL_PASSWORD_ENV : PASSWORD_ENV),
      );
    }
  }

  readPasswordFile(path: string, at: Located, key: string): Secret | undefined {
    let cached = this.#passwordFiles.get(path);
    if (!cached) {
      cached = {};
      try {
        const st = statSync(path);
        if (!st.isFile()) cached.error = `${path} is not a regular file`;
        else if ((st.mode & 0o077) !== 0) {
          cached.error = `${path} is readable or writable by other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 ${path}`;
        } else cached.secret = new Secret(readFileSync(path, 'utf8').replace(/\r?\n$/, ''));
      } catch (err) {
        cached.error = `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      }
      this.#passwordFiles.set(path, cached);
    }
    if (cached.error) this.error(at, key, cached.error);
    return cached.secret;
  }
}

function locate(s: ValueSource): Located {
  if (s.kind === 'file') return { file: s.file, block: s.block, line: s.line };
  return {};
}

interface Resolved {
  value: ParamValue | undefined;
  source: ValueSource;
  /** Set in some block (to a value, not to "default"). */
  explicit: boolean;
}

function resolveParam(name: string, chain: readonly Layer[], computedDefault?: ParamValue): Resolved {
  const spec = PARAMETER_BY_NAME.get(name)!;
  const layers = spec.scope === 'L' ? chain.slice(0, 1) : chain;
  for (const layer of layers) {
    const e = layer.get(name);
    if (!e) continue;
    switch (e.parsed.kind) {
      case 'value':
        return { value: e.parsed.value, source: e.source, explicit: true };
      case 'unset':
        return { value: undefined, source: e.source, explicit: true };
      case 'default':
        return { value: computedDefault ?? spec.default, source: e.source, explicit: false };
    }
  }
  return { value: computedDefault ?? spec.default, source: { kind: 'default' }, explicit: false };
}

/** MHA's "config order": by name, then by the number in `server<non-digits><digits>` when every block has one. */
export function mhaServerOrder<T extends { id: string }>(servers: readonly T[]): T[] {
  const byName = [...servers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const numbers = byName.map((s) => /^server\D*(\d+)/.exec(s.id));
  if (numbers.every((m) => m !== null)) {
    const keyed = byName.map((s, i) => ({ s, n: Number(numbers[i]![1]) }));
    keyed.sort((a, b) => a.n - b.n);
    return keyed.map((k) => k.s);
  }
  return byName;
}

const HOOK_PARAMETERS = [
  'secondary_check_script',
  'master_ip_failover_script',
  'master_ip_online_change_script',
  'shutdown_script',
  'report_script',
] as const;

function defaultInitScriptRunner(command: string): string {
  // Without a shell, as the hooks (see hook-command.ts).
  let parsed: HookCommand;
  try {
    parsed = parseHookCommand(command);
  } catch (e) {
    throw e instanceof HookCommandError ? new Error(`"${command}": ${e.message}`) : e;
  }
  return execFileSync(parsed.argv[0], parsed.argv.slice(1), {
    env: { ...process.env, ...parsed.env },
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1024 * 1024,
  });
}

/**
 * Read MHA's configuration: the global file's `[server default]`, then the application file's
 * `[server default]`, then `init_conf_load_script`'s output, then each `[serverN]` / `[binlogN]`.
 * Throws `ConfigError` listing every problem found; warnings come back in `config.warnings`.
 */
export function loadConfig(opts: LoadConfigOptions): Config {
  const L = new Loader(opts);
  const env = opts.env ?? process.env;
  const osUser = opts.osUser ?? safeUserName();
  const home = opts.homeDir ?? homedir();
  const appFile = opts.appFile;

  // Global defaults.
  let globalFile: string | undefined;
  let globalLayer: Layer = new Map();
  const globalPath =
    opts.globalFile === undefined
      ? existsSync(DEFAULT_GLOBAL_CONF)
        ? DEFAULT_GLOBAL_CONF
        : undefined
      : opts.globalFile;
  if (globalPath) {
    if (!existsSync(globalPath)) {
      L.warn({ file: globalPath }, undefined, 'global configuration file not found; skipping it');
    } else {
      const doc = readIni(globalPath);
      globalFile = globalPath;
      L.iniIssues(globalPath, doc.issues);
      for (const s of doc.sections()) {
        if (s.name === 'server default') continue;
        const at = { file: globalPath, line: s.name === ROOT_SECTION ? s.entries[0]?.line : s.line };
        L.warn(
          s.name === ROOT_SECTION ? at : { ...at, block: s.name },
          undefined,
          s.name === ROOT_SECTION
            ? 'entries outside any block are ignored (MHA reads only [server default] from the global file)'
            : 'block ignored: MHA reads only [server default] from the global file',
        );
      }
      globalLayer = L.layer(doc, globalPath, 'server default', 'global-default');
      L.checkPasswordFilePermissions(globalPath, doc);
    }
  }

  // Application file.
  const doc = readIni(appFile);
  L.iniIssues(appFile, doc.issues);
  L.checkPasswordFilePermissions(appFile, doc);
  const appLayer = L.layer(doc, appFile, 'server default', 'app-default');
  const blocks: BlockInput[] = [];
  for (const s of doc.sections()) {
    if (s.name === 'server default') continue;
    if (s.name === ROOT_SECTION) {
      for (const e of s.entries) {
        L.error(
          { file: appFile, line: e.line },
          e.key,
          'outside any block: put it under [server default] or a [serverN] block',
        );
      }
      continue;
    }
    const at = { file: appFile, block: s.name, line: s.line };
    if (/^server\S+$/.test(s.name) || /^binlog\S+$/.test(s.name)) {
      const kind = s.name.startsWith('server') ? 'server' : 'binlog';
      if (/^server[_-]?default$/i.test(s.name)) {
        L.error(at, undefined, 'looks like a misspelt [server default] (with a space); MHA would read it as a server');
        continue;
      }
      blocks.push({ name: s.name, kind, file: appFile, line: s.line, layer: L.layer(doc, appFile, s.name, kind) });
    } else {
      L.error(
        at,
        undefined,
        'invalid block name: blocks are [server default], [server<ID>] and [binlog<ID>] (ID without spaces)',
      );
    }
  }

  // init_conf_load_script: its name=value lines override the application defaults.
  let initLayer: Layer = new Map();
  const initScript = resolveParam('init_conf_load_script', [appLayer, globalLayer]);
  if (typeof initScript.value === 'string' && initScript.value !== '' && opts.runInitConfLoadScript !== false) {
    const run = opts.runInitConfLoadScript ?? defaultInitScriptRunner;
    let output: string | undefined;
    try {
      output = run(initScript.value);
    } catch (err) {
      L.error(locate(initScript.source), 'init_conf_load_script', `failed: ${(err as Error).message.split('\n')[0]}`);
    }
    if (output !== undefined) initLayer = parseInitScriptOutput(L, initScript, output);
  }

  const appChain = [initLayer, appLayer, globalLayer];
  const app = buildApp(appChain, appFile, globalFile);
  // Hooks run without a shell: a command only a shell could carry out is refused here, at load
  // time, rather than failing (or meaning something else) in the middle of a failover.
  for (const name of HOOK_PARAMETERS) {
    const value = resolveParam(name, appChain);
    if (typeof value.value !== 'string' || value.value === '') continue;
    const problem = hookCommandProblem(value.value);
    if (problem) {
      // MHA's quote stripping eats a quote that ends the line, which then looks unterminated.
      const hint = /^unterminated/.test(problem)
        ? ' (a quote at the very end of a value is removed, as MHA does: end the line with an unquoted word)'
        : '';
      L.error(locate(value.source), name, problem + hint);
    }
  }

  // Servers and binlog servers.
  const passwordOverrideWarned = new Set<string>();
  const servers: ServerConfig[] = [];
  const binlogServers: BinlogServerConfig[] = [];
  for (const b of blocks) {
    const chain = [b.layer, initLayer, appLayer, globalLayer];
    const sources: SourceMap = {};
    const r = (name: string, computedDefault?: ParamValue): Resolved => {
      const res = resolveParam(name, chain, computedDefault);
      sources[name] = res.source;
      return res;
    };
    const at = { file: b.file, block: b.name, line: b.line };
    const hostname = r('hostname').value as string | undefined;
    if (!hostname) {
      L.error(at, 'hostname', `missing: every [${b.kind}N] block needs hostname=`);
    }
    const ip = r('ip').value as string | undefined;
    const ssh = buildSsh(L, r, hostname ?? '', ip, osUser, home);
    const common = {
      id: b.name,
      file: b.file,
      line: b.line,
      hostname: hostname ?? '',
      ip,
      port: r('port').value as number,
      nodeLabel: r('node_label').value as string | undefined,
      remoteWorkdir: r('remote_workdir').value as string,
      masterBinlogDirs: [...(r('master_binlog_dir').value as readonly string[])],
      clientBindir: r('client_bindir').value as string | undefined,
      clientLibdir: r('client_libdir').value as string | undefined,
      ssh,
      sources,
    };
    if (b.kind === 'binlog') {
      binlogServers.push(common);
      continue;
    }
    const password = resolveSecret(L, r, sources, 'password', env, home, passwordOverrideWarned) ?? new Secret('');
    const replPassword = resolveSecret(L, r, sources, 'repl_password', env, home, passwordOverrideWarned);
    const server: ServerConfig = {
      ...common,
      user: r('user').value as string,
      password,
      replUser: r('repl_user').value as string | undefined,
      replPassword,
      candidateMaster: r('candidate_master').value as boolean,
      noMaster: r('no_master').value as boolean,
      ignoreFail: r('ignore_fail').value as boolean,
      skipInitSshCheck: r('skip_init_ssh_check').value as boolean,
      skipResetSlave: r('skip_reset_slave').value as boolean,
      disableLogBin: r('disable_log_bin').value as boolean,
      handleRawBinlog: r('handle_raw_binlog').value as boolean,
      useGtidAutoPos: r('use_gtid_auto_pos').value as boolean,
      masterPidFile: r('master_pid_file').value as string | undefined,
    };
    if (server.candidateMaster && server.noMaster) {
      L.warn(
        at,
        'no_master',
        'candidate_master=1 and no_master=1 are both set: no_master wins, this server is never promoted',
      );
    }
    servers.push(server);
  }

  if (servers.length === 0) {
    L.error({ file: appFile }, undefined, 'no server is defined: add at least one [serverN] block with hostname=');
  }
  checkDuplicateAddresses(L, servers);

  if (L.errors.length > 0) throw new ConfigError(L.errors, L.warnings);
  return {
    app,
    servers: mhaServerOrder(servers),
    binlogServers: [...binlogServers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    warnings: L.warnings,
  };
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root';
  }
}

function readIni(path: string): IniDocument {
  try {
    return IniDocument.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([
      {
        severity: 'error',
        file: path,
        message: `cannot read the configuration file: ${code === 'ENOENT' ? 'no such file' : (code ?? (err as Error).message)}`,
      },
    ]);
  }
}

function parseInitScriptOutput(L: Loader, script: Resolved, output: string): Layer {
  const layer: Layer = new Map();
  const command = script.value as string;
  output.split(/\r?\n/).forEach((row, index) => {
    const line = index + 1;
    if (/^\s*(#|$)/.test(row)) return;
    const at = { ...locate(script.source), key: 'init_conf_load_script' };
    const eq = row.indexOf('=');
    if (eq < 0) {
      L.error(at, at.key, `output line ${line} is not name=value`);
      return;
    }
    const key = row.slice(0, eq).trim();
    const spec = PARAMETER_BY_NAME.get(key);
    if (!spec) {
      const hint = suggestParameter(key);
      L.error(at, at.key, `output line ${line}: unknown parameter ${key}${hint ? ` — did you mean "${hint}"?` : ''}`);
      return;
    }
    if (!isAllowedIn(spec, 'app-default')) {
      L.error(at, at.key, `output line ${line}: ${key} cannot be set here: ${describeScope(spec)}`);
      return;
    }
    const parsed = parseValue(spec, row.slice(eq + 1));
    if ('error' in parsed) {
      L.error(at, at.key, `output line ${line}: ${key}: ${parsed.error}`);
      return;
    }
    layer.set(key, { spec, parsed, source: { kind: 'init-script', script: command, line } });
  });
  return layer;
}

function buildApp(chain: Layer[], appFile: string, globalFile: string | undefined): AppConfig {
  const sources: SourceMap = {};
  const r = <T>(name: string): T => {
    const res = resolveParam(name, chain);
    sources[name] = res.source;
    return res.value as T;
  };
  return {
    name: parsePath(appFile).name,
    confFile: appFile,
    globalConfFile: globalFile,
    managerWorkdir: r<string>('manager_workdir'),
    managerLog: r<string | undefined>('manager_log'),
    logLevel: r<LogLevel>('log_level'),
    checkReplDelay: r<boolean>('check_repl_delay'),
    checkReplFilter: r<boolean>('check_repl_filter'),
    latestPriority: r<boolean>('latest_priority'),
    multiTierSlave: r<boolean>('multi_tier_slave'),
    pingInterval: r<number>('ping_interval'),
    pingType: r<PingType>('ping_type'),
    secondaryCheckScript: r<string | undefined>('secondary_check_script'),
    masterIpFailoverScript: r<string | undefined>('master_ip_failover_script'),
    masterIpOnlineChangeScript: r<string | undefined>('master_ip_online_change_script'),
    shutdownScript: r<string | undefined>('shutdown_script'),
    reportScript: r<string | undefined>('report_script'),
    initConfLoadScript: r<string | undefined>('init_conf_load_script'),
    etcdEndpoints: r<readonly string[] | undefined>('etcd_endpoints'),
    etcdPrefix: r<string>('etcd_prefix'),
    managerLeaseTtl: r<number>('manager_lease_ttl'),
    sources,
  };
}

function buildSsh(
  L: Loader,
  r: (name: string, computedDefault?: ParamValue) => Resolved,
  hostname: string,
  ip: string | undefined,
  osUser: string,
  home: string,
): SshTarget {
  const optionsRes = r('ssh_options');
  const optionsText = (optionsRes.value as string | undefined) ?? '';
  const options = parseSshOptions(optionsText, { homeDir: home });
  const at = locate(optionsRes.source);
  for (const p of options.problems) L.error(at, 'ssh_options', p);
  if (options.other.length > 0) {
    L.warn(at, 'ssh_options', `ignored (not used by the built-in SSH client): ${options.other.join(' ')}`);
  }
  const sshHost = (r('ssh_host').value as string | undefined) ?? hostname;
  const sshIp = (r('ssh_ip').value as string | undefined) ?? (sshHost === hostname ? ip : undefined);
  // An explicit MHA parameter wins over the same setting inside ssh_options, which wins over the default.
  const pick = <T>(name: string, fromOptions: T | undefined, computedDefault?: ParamValue): T => {
    const res = r(name, computedDefault);
    if (res.explicit || fromOptions === undefined) {
      if (res.explicit && fromOptions !== undefined && fromOptions !== res.value) {
        L.warn(
          locate(res.source),
          name,
          `${res.value} overrides the value ${fromOptions} given in ssh_options (${formatSource(optionsRes.source)})`,
        );
      }
      return res.value as T;
    }
    return fromOptions;
  };
  return {
    host: sshHost,
    ip: sshIp,
    port: pick<number>('ssh_port', options.port),
    user: pick<string>('ssh_user', options.user, osUser),
    connectionTimeoutSec: pick<number>('ssh_connection_timeout', options.connectTimeoutSec),
    options,
    optionsText,
  };
}

/** Password precedence: `<name>_file` (mode 0600) > environment variable > the `.cnf` value. */
function resolveSecret(
  L: Loader,
  r: (name: string) => Resolved,
  sources: SourceMap,
  name: 'password' | 'repl_password',
  env: Readonly<Record<string, string | undefined>>,
  home: string,
  overrideWarned: Set<string>,
): Secret | undefined {
  const envName = name === 'password' ? PASSWORD_ENV : REPL_PASSWORD_ENV;
  const fileRes = r(`${name}_file`);
  const cnf = r(name);
  let chosen: { secret: Secret | undefined; source: ValueSource } | undefined;
  if (typeof fileRes.value === 'string' && fileRes.value !== '') {
    const path = absolutePath(fileRes.value, fileRes.source, home);
    const secret = L.readPasswordFile(path, locate(fileRes.source), `${name}_file`);
    chosen = { secret, source: { kind: 'password-file', path } };
  } else if (env[envName] !== undefined) {
    chosen = { secret: new Secret(env[envName]!), source: { kind: 'env', name: envName } };
  }
  if (!chosen) return typeof cnf.value === 'string' ? new Secret(cnf.value) : undefined;
  sources[name] = chosen.source;
  // Say once when a password written in a .cnf file is not the one used.
  if (cnf.source.kind === 'file' && cnf.explicit) {
    const id = `${name}@${formatSource(cnf.source)}`;
    if (!overrideWarned.has(id)) {
      overrideWarned.add(id);
      L.warn(locate(cnf.source), name, `ignored: ${formatSource(chosen.source)} takes precedence`);
    }
  }
  return chosen.secret;
}

function absolutePath(path: string, source: ValueSource, home: string): string {
  if (path === '~' || path.startsWith('~/')) return home + path.slice(1);
  if (isAbsolute(path)) return path;
  return source.kind === 'file' ? resolvePath(dirname(source.file), path) : resolvePath(path);
}

function checkDuplicateAddresses(L: Loader, servers: readonly ServerConfig[]): void {
  const seen = new Map<string, ServerConfig>();
  for (const s of servers) {
    if (!s.hostname) continue;
    const address = `${(s.ip ?? s.hostname).toLowerCase()}:${s.port}`;
    const first = seen.get(address);
    if (first) {
      const src = s.sources[s.ip ? 'ip' : 'hostname'];
      L.error(
        { file: s.file, block: s.id, line: src?.kind === 'file' ? src.line : s.line },
        s.ip ? 'ip' : 'hostname',
        `duplicate address ${address}: [${first.id}] (line ${first.line}) has the same ip:port`,
      );
    } else seen.set(address, s);
  }
}

// ---------------------------------------------------------------------------------------------
// masterha_conf_host

/** MHA's block naming: `--block` gets a `server` prefix unless it has one; default `server_<hostname>`. */
export function confHostBlockName(opts: { block?: string; hostname?: string }): string {
  if (opts.block) return /^(server|binlog)/.test(opts.block) ? opts.block : `server${opts.block}`;
  if (!opts.hostname) throw new Error('--block or --hostname must be set');
  return `server_${opts.hostname}`;
}

/** `--params="candidate_master=1;check_repl_delay=0"` → pairs (a value may contain `=`). */
export function parseConfHostParams(text: string | undefined): Array<[string, string]> {
  if (!text) return [];
  return text
    .split(';')
    .filter((p) => p.trim() !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      if (eq < 0)
        throw new ConfigError([{ severity: 'error', key: p.trim(), message: 'expected name=value in --params' }]);
      return [p.slice(0, eq).trim(), p.slice(eq + 1).trim()];
    });
}

/**
 * `masterha_conf_host --command=add`: append `[block]` with hostname and params, validated like a
 * loaded file, keeping every existing line (comments included) and writing atomically.
 * Returns MHA's message `Wrote <block> entry to <file> .`.
 */
export function addServerBlock(
  file: string,
  opts: { block: string; hostname: string; params?: ReadonlyArray<readonly [string, string]> },
): string {
  const { block, hostname } = opts;
  const kind: BlockKind = block.startsWith('binlog') ? 'binlog' : 'server';
  const problems: ConfigIssue[] = [];
  const at = { severity: 'error' as const, file, block };
  if (!/^(server|binlog)\S+$/.test(block)) {
    problems.push({ ...at, message: 'invalid block name: use server<ID> or binlog<ID> (ID without spaces)' });
  }
  if (!hostname) problems.push({ ...at, key: 'hostname', message: 'missing' });
  const entries: Array<[string, string]> = [['hostname', hostname]];
  for (const [key, value] of opts.params ?? []) {
    const spec = PARAMETER_BY_NAME.get(key);
    if (!spec) {
      const hint = suggestParameter(key);
      problems.push({ ...at, key, message: `unknown parameter${hint ? ` — did you mean "${hint}"?` : ''}` });
      continue;
    }
    if (!isAllowedIn(spec, kind)) {
      problems.push({ ...at, key, message: `not allowed in a [${kind}N] block: ${describeScope(spec)}` });
      continue;
    }
    if (entries.some(([k]) => k === key)) {
      problems.push({ ...at, key, message: 'given twice' });
      continue;
    }
    const parsed = parseValue(spec, value);
    if ('error' in parsed) problems.push({ ...at, key, message: parsed.error });
    entries.push([key, value]);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  editIniFile(file, (doc) => {
    if (doc.hasSection(block)) {
      throw new ConfigError([
        { ...at, line: doc.section(block)?.line, message: `Entry ${block} already exists on ${file} .` },
      ]);
    }
    try {
      return doc.withSection(block, entries);
    } catch (err) {
      throw new ConfigError([{ ...at, message: (err as Error).message }]);
    }
  });
  return `Wrote ${block} entry to ${file} .`;
}

/**
 * `masterha_conf_host --command=delete` and `--remove_dead_master_conf`: remove `[block]`, keeping
 * every other line byte for byte, written atomically. Returns MHA's messages.
 */
export function deleteBlock(file: string, block: string): { deleted: boolean; message: string } {
  const deleted = editIniFile(file, (doc) => doc.withoutSection(block));
  return deleted
    ? { deleted, message: `Deleted ${block} entry from ${file} .` }
    : { deleted, message: `Entry ${block} not found from ${file} .` };
}
