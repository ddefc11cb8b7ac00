import { homedir } from 'node:os';

/**
 * A configured hook command (`master_ip_failover_script=/usr/local/bin/x --vip=1.2.3.4`) as an
 * argv. MHA hands the whole line to a shell; mha-ts runs the program directly, so the values it
 * appends (host names, users: anything the configuration or a server says) are plain argv
 * entries that no shell ever re-reads. The configured line itself is split the way `sh` splits
 * words — single quotes literal, double quotes with `\"`-style escapes, backslash escapes,
 * `# comment` — and anything that only a shell could carry out (pipes, lists, redirections,
 * expansions) is refused, so a command never silently means something else than it did in MHA.
 */
export interface HookCommand {
  /** The program and its configured arguments. */
  argv: string[];
  /** Leading `NAME=value` words, which `sh` would put in the program's environment. */
  env: Record<string, string>;
}

export class HookCommandError extends Error {}

/** Outside quotes these make sense only to a shell. */
const SHELL_ONLY = new Set(['|', ';', '&', '$', '`', '<', '>']);

const WHAT: Record<string, string> = {
  '|': 'a pipe',
  ';': 'a command list',
  '&': 'a background or && list',
  $: 'an expansion',
  '`': 'a command substitution',
  '<': 'a redirection',
  '>': 'a redirection',
};

/**
 * Split a hook command line into words, without any expansion. Throws `HookCommandError`
 * saying which character a shell would have needed and how to write it literally.
 */
export function parseHookCommand(text: string, opts: { homeDir?: string } = {}): HookCommand {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  // Whether the word so far came without quotes or escapes (only such words are NAME=value or ~).
  let plain = true;
  const refuse = (c: string, at: number, why: string): never => {
    throw new HookCommandError(
      `"${c}" at character ${at + 1} is ${why}, which needs a shell; hook commands run without one. ` +
        `Put the shell code in a script and name the script, or quote the character ('${c}') to pass it literally`,
    );
  };
  const finish = () => {
    if (!inWord) return;
    if (plain && (word === '~' || word.startsWith('~/'))) word = (opts.homeDir ?? homedir()) + word.slice(1);
    words.push(word);
    word = '';
    inWord = false;
    plain = true;
  };
  const assignments: boolean[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new HookCommandError(`unterminated single quote at character ${i + 1}`);
      word += text.slice(i + 1, end);
      inWord = true;
      plain = false;
      i = end + 1;
    } else if (c === '"') {
      const start = i;
      i++;
      inWord = true;
      plain = false;
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
        // Inside double quotes a shell still expands these: passing them on unexpanded would
        // change the command's meaning without a word.
        if (d === '$' || d === '`') refuse(d, i, WHAT[d]);
        word += d;
        i++;
      }
      if (!closed) throw new HookCommandError(`unterminated double quote at character ${start + 1}`);
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new HookCommandError('the command ends with a lone backslash');
      if (text[i + 1] !== '\n') {
        word += text[i + 1];
        inWord = true;
        plain = false;
      }
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) assignments.push(plain && /^[A-Za-z_][A-Za-z0-9_]*=/.test(word));
      finish();
      i++;
    } else if (c === '#' && !inWord) {
      break; // a comment, as in sh: MHA configs put them after the script name
    } else if (SHELL_ONLY.has(c)) {
      refuse(c, i, WHAT[c]);
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) assignments.push(plain && /^[A-Za-z_][A-Za-z0-9_]*=/.test(word));
  finish();
  const env: Record<string, string> = {};
  let first = 0;
  while (first < words.length && assignments[first]) {
    const eq = words[first].indexOf('=');
    env[words[first].slice(0, eq)] = words[first].slice(eq + 1);
    first++;
  }
  const argv = words.slice(first);
  if (argv.length === 0) throw new HookCommandError('no program to run');
  return { argv, env };
}

/** The problem with a configured hook command, or undefined when it can be run. */
export function hookCommandProblem(text: string): string | undefined {
  try {
    parseHookCommand(text);
    return undefined;
  } catch (e) {
    if (e instanceof HookCommandError) return e.message;
    throw e;
  }
}
