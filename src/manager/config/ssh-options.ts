import { homedir } from 'node:os';

/**
 * MHA's `ssh_options` is appended to every `ssh`/`scp` command line it builds. mha-ts speaks SSH
 * itself, so the OpenSSH options that matter are understood here and the rest are kept in
 * `other` for the caller to report as ignored.
 */
export interface SshOptions {
  /** `-i FILE` / `-o IdentityFile=FILE`, in order, `~` expanded. */
  identityFiles: string[];
  /** `-o UserKnownHostsFile=FILE` (OpenSSH allows several, space-separated; kept as written, `~` expanded). */
  userKnownHostsFile?: string;
  /** `-o StrictHostKeyChecking=…` (`off` → `no`). */
  strictHostKeyChecking?: 'yes' | 'no' | 'ask' | 'accept-new';
  /** `-o ConnectTimeout=N`. */
  connectTimeoutSec?: number;
  /** `-p PORT` / `-o Port=PORT`. */
  port?: number;
  /** `-l USER` / `-o User=USER`. */
  user?: string;
  /** `-o ServerAliveInterval=N`. */
  serverAliveIntervalSec?: number;
  /** `-o ServerAliveCountMax=N`. */
  serverAliveCountMax?: number;
  /** Options understood but not acted on, as written (`-o ProxyJump=bastion`, `-C`, `-F FILE`, ...). */
  other: string[];
  /** Malformed input (unterminated quote, missing argument, bad number), one message each. */
  problems: string[];
}

/**
 * `-o` options that describe what the built-in client always does anyway (non-interactive,
 * key authentication only, quiet): accepted silently.
 */
const NOOP_OPTIONS = new Set([
  'batchmode',
  'passwordauthentication',
  'kbdinteractiveauthentication',
  'challengeresponseauthentication',
  'preferredauthentications',
  'pubkeyauthentication',
  'gssapiauthentication',
  'identitiesonly',
  'loglevel',
  'checkhostip',
  'hashknownhosts',
  'forwardx11',
  'requesttty',
  'numberofpasswordprompts',
]);

/** Single-letter flags with no argument that change nothing for the built-in client. */
const NOOP_FLAGS = new Set(['q', 'T', 'x', 'a', 'n', 'N']);
/** Single-letter OpenSSH options that take an argument (besides i, o, p, l handled below). */
const FLAGS_WITH_ARGUMENT = new Set('BbcDEeFIJLmOQRSWw');

/**
 * Split a string into words the way a POSIX shell would (single quotes literal, double quotes
 * with backslash escapes, backslash outside quotes) — but no expansions.
 */
export function splitShellWords(text: string): { words: string[]; problem?: string } {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { words: [...words, word + text.slice(i + 1)], problem: 'unterminated single quote' };
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      let closed = false;
      while (i < text.length) {
        const d = text[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1])) {
          word += text[i + 1];
          i += 2;
          continue;
        }
        word += d;
        i++;
      }
      if (!closed) return { words: [...words, word], problem: 'unterminated double quote' };
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return { words };
}

function expandTilde(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return home + path.slice(1);
  return path;
}

function parseCount(text: string, what: string, problems: string[], min: number): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) {
    problems.push(`${what}: "${text}" is not a number`);
    return undefined;
  }
  const n = Number(t);
  if (n < min) {
    problems.push(`${what}: ${n} must be at least ${min}`);
    return undefined;
  }
  return n;
}

/**
 * Parse an `ssh_options` value. Accepts `-i KEY`, `-iKEY`, `-o Key=Value`, `-oKey=Value`,
 * `-o "Key Value"`, `-p PORT`, `-l USER`, flag clusters (`-qT`), and the whole value wrapped in
 * quotes as MHA configs often have it (`ssh_options="-i /root/.ssh/id_rsa -o ..."`) — MHA strips
 * every quote; here quotes group words, which keeps paths with spaces intact.
 */
export function parseSshOptions(text: string, opts: { homeDir?: string } = {}): SshOptions {
  const home = opts.homeDir ?? homedir();
  const result: SshOptions = { identityFiles: [], other: [], problems: [] };
  // The whole value in one pair of quotes (MHA samples write ssh_options="-i ... -o ..."): unwrap it.
  let body = text.trim();
  const q = body[0];
  if (body.length >= 2 && (q === '"' || q === "'") && body.endsWith(q) && !body.slice(1, -1).includes(q)) {
    body = body.slice(1, -1);
  }
  const { words, problem } = splitShellWords(body);
  if (problem) result.problems.push(problem);
  // A word that still holds spaces came from a quoted group such as "-i /path": split its option off.
  const tokens: string[] = [];
  for (const w of words) {
    const m = /^(-[A-Za-z])\s+(.*)$/s.exec(w);
    if (m) tokens.push(m[1], m[2]);
    else tokens.push(w);
  }

  const applyOption = (raw: string): void => {
    const m = /^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*?)\s*$/s.exec(raw);
    if (!m) {
      result.problems.push(`-o ${raw}: expected Key=Value`);
      return;
    }
    const key = m[1].toLowerCase();
    let value = m[2];
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    switch (key) {
      case 'identityfile':
        result.identityFiles.push(expandTilde(value, home));
        return;
      case 'userknownhostsfile':
        result.userKnownHostsFile = value
          .split(/\s+/)
          .map((f) => expandTilde(f, home))
          .join(' ');
        return;
      case 'stricthostkeychecking': {
        const v = value.toLowerCase();
        if (v === 'yes' || v === 'no' || v === 'ask' || v === 'accept-new') result.strictHostKeyChecking = v;
        else if (v === 'off') result.strictHostKeyChecking = 'no';
        else result.problems.push(`StrictHostKeyChecking: "${value}" is not yes, no, ask, accept-new or off`);
        return;
      }
      case 'connecttimeout': {
        const n = parseCount(value, 'ConnectTimeout', result.problems, 1);
        if (n !== undefined) result.connectTimeoutSec = n;
        return;
      }
      case 'port': {
        const n = parseCount(value, 'Port', result.problems, 1);
        if (n !== undefined && n <= 65535) result.port = n;
        else if (n !== undefined) result.problems.push(`Port: ${n} is out of range (1-65535)`);
        return;
      }
      case 'user':
        result.user = value;
        return;
      case 'serveraliveinterval': {
        const n = parseCount(value, 'ServerAliveInterval', result.problems, 0);
        if (n !== undefined) result.serverAliveIntervalSec = n;
        return;
      }
      case 'serveralivecountmax': {
        const n = parseCount(value, 'ServerAliveCountMax', result.problems, 0);
        if (n !== undefined) result.serverAliveCountMax = n;
        return;
      }
      default:
        if (!NOOP_OPTIONS.has(key)) result.other.push(`-o ${raw}`);
    }
  };

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!t.startsWith('-') || t === '-' || t.startsWith('--')) {
      result.other.push(t);
      continue;
    }
    // A cluster of one-letter flags; the first one that takes an argument consumes the rest or the next word.
    for (let j = 1; j < t.length; j++) {
      const flag = t[j];
      const takesArgument = 'iopl'.includes(flag) || FLAGS_WITH_ARGUMENT.has(flag);
      if (!takesArgument) {
        if (!NOOP_FLAGS.has(flag)) result.other.push(`-${flag}`);
        continue;
      }
      let arg = t.slice(j + 1);
      if (arg === '') {
        if (i + 1 >= tokens.length) {
          result.problems.push(`-${flag} needs an argument`);
          break;
        }
        arg = tokens[++i];
      }
      switch (flag) {
        case 'i':
          result.identityFiles.push(expandTilde(arg.trim(), home));
          break;
        case 'o':
          applyOption(arg);
          break;
        case 'p': {
          const n = parseCount(arg, '-p', result.problems, 1);
          if (n !== undefined && n <= 65535) result.port = n;
          else if (n !== undefined) result.problems.push(`-p: ${n} is out of range (1-65535)`);
          break;
        }
        case 'l':
          result.user = arg.trim();
          break;
        default:
          result.other.push(`-${flag} ${arg}`);
      }
      break;
    }
  }
  return result;
}
