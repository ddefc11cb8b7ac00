import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * MHA's ini dialect, read exactly as Perl's Config::Tiny (2.2x) reads it, kept line by line so
 * that a file can be edited without losing its comments or layout.
 *
 * Config::Tiny rules reproduced here:
 * - lines end at `\r\n`, `\r\r\n`, `\r` or `\n`;
 * - a line whose first non-blank character is `#` or `;`, or that is blank, is skipped;
 * - ` ; comment` (whitespace, semicolon, whitespace, text) ends the line: `a;b` and `a #b` are values;
 * - `[ name ]` opens a section (name trimmed); a section seen twice is one section;
 * - `key = value`: the key is everything before the first `=`, key and value trimmed;
 * - anything else is a syntax error; keys before the first section belong to the root section.
 * Quotes are *not* handled here: MHA strips them later (see load-config).
 */

export type IniLineKind = 'blank' | 'comment' | 'section' | 'entry' | 'invalid';

export interface IniLine {
  /** The line as written, without its terminator. */
  readonly text: string;
  /** Its terminator as written: `\n`, `\r\n`, `\r\r\n`, `\r`, or `` for a last line without one. */
  readonly eol: string;
  /** 1-based. */
  readonly lineNo: number;
  readonly kind: IniLineKind;
  /** Section name (kind `section`). */
  readonly section?: string;
  /** Key and value (kind `entry`), as Config::Tiny returns them. */
  readonly key?: string;
  readonly value?: string;
}

export interface IniEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

export interface IniSection {
  readonly name: string;
  /** Line of the first `[name]` header. */
  readonly line: number;
  /** Every header line of this name (Config::Tiny merges repeated sections). */
  readonly headerLines: readonly number[];
  /** Entries in file order; a repeated key appears once per occurrence (the last one wins). */
  readonly entries: readonly IniEntry[];
}

export interface IniIssue {
  readonly severity: 'error' | 'warning';
  readonly line: number;
  readonly section?: string;
  readonly key?: string;
  readonly message: string;
}

/** Name of the pseudo-section holding entries written before any `[section]` (Config::Tiny's `_`). */
export const ROOT_SECTION = '_';

const LINE_SPLIT = /\r\r\n|\r\n|\r|\n/g;
const SECTION_RE = /^\s*\[\s*(.+?)\s*\]\s*$/;
const ENTRY_RE = /^\s*([^=]+?)\s*=\s*(.*?)\s*$/;
const INLINE_COMMENT_RE = /\s;\s.+$/;

function classify(text: string, lineNo: number, eol: string): IniLine {
  const body = lineNo === 1 ? text.replace(/^\uFEFF/, '') : text;
  if (/^\s*(?:#|;|$)/.test(body)) {
    return { text, eol, lineNo, kind: /^\s*$/.test(body) ? 'blank' : 'comment' };
  }
  const stripped = body.replace(INLINE_COMMENT_RE, '');
  const s = SECTION_RE.exec(stripped);
  if (s) return { text, eol, lineNo, kind: 'section', section: s[1] };
  const e = ENTRY_RE.exec(stripped);
  if (e) return { text, eol, lineNo, kind: 'entry', key: e[1], value: e[2] };
  return { text, eol, lineNo, kind: 'invalid' };
}

function splitLines(text: string): IniLine[] {
  const lines: IniLine[] = [];
  let start = 0;
  let lineNo = 0;
  for (const m of text.matchAll(LINE_SPLIT)) {
    lines.push(classify(text.slice(start, m.index), ++lineNo, m[0]));
    start = m.index + m[0].length;
  }
  if (start < text.length) lines.push(classify(text.slice(start), ++lineNo, ''));
  return lines;
}

/** Line terminators of a new line, by majority. */
function dominantEol(lines: readonly IniLine[]): string {
  const counts = new Map<string, number>();
  for (const l of lines) if (l.eol) counts.set(l.eol, (counts.get(l.eol) ?? 0) + 1);
  let best = '\n';
  let bestCount = 0;
  for (const [eol, n] of counts) {
    if (n > bestCount) {
      best = eol;
      bestCount = n;
    }
  }
  return best;
}

/**
 * A parsed ini file that remembers every byte: `toString()` of an unedited document is the
 * original text.
 */
export class IniDocument {
  readonly lines: readonly IniLine[];
  readonly issues: readonly IniIssue[];
  readonly #sections: Map<string, IniSection>;

  private constructor(lines: IniLine[]) {
    this.lines = lines;
    const issues: IniIssue[] = [];
    const sections = new Map<string, { name: string; headerLines: number[]; entries: IniEntry[] }>();
    let current = ROOT_SECTION;
    const sectionOf = (name: string, line: number) => {
      let s = sections.get(name);
      if (!s) {
        s = { name, headerLines: [], entries: [] };
        sections.set(name, s);
      } else if (name !== ROOT_SECTION) {
        issues.push({
          severity: 'warning',
          line,
          section: name,
          message: `[${name}] appears again (first at line ${s.headerLines[0]}); the two blocks are merged`,
        });
      }
      if (name !== ROOT_SECTION) s.headerLines.push(line);
      return s;
    };
    for (const l of lines) {
      if (l.kind === 'section') {
        current = l.section!;
        sectionOf(current, l.lineNo);
      } else if (l.kind === 'entry') {
        const s = sections.get(current) ?? sectionOf(current, l.lineNo);
        const earlier = s.entries.find((e) => e.key === l.key);
        if (earlier) {
          issues.push({
            severity: 'warning',
            line: l.lineNo,
            section: current,
            key: l.key,
            message: `set again (line ${earlier.line}'s value is overridden)`,
          });
        }
        s.entries.push({ key: l.key!, value: l.value!, line: l.lineNo });
      } else if (l.kind === 'invalid') {
        issues.push({
          severity: 'error',
          line: l.lineNo,
          section: current === ROOT_SECTION ? undefined : current,
          message: `syntax error: '${l.text.trim()}' is neither [section], key=value nor a # or ; comment`,
        });
      }
    }
    this.#sections = new Map(
      [...sections].map(([name, s]) => [
        name,
        { name, line: s.headerLines[0] ?? 0, headerLines: s.headerLines, entries: s.entries },
      ]),
    );
    this.issues = issues;
  }

  static parse(text: string): IniDocument {
    return new IniDocument(splitLines(text));
  }

  static readFile(path: string): IniDocument {
    return IniDocument.parse(readFileSync(path, 'utf8'));
  }

  /** Sections in order of first appearance; the root section (`_`) only when it has entries. */
  sections(): IniSection[] {
    return [...this.#sections.values()].filter((s) => s.name !== ROOT_SECTION || s.entries.length > 0);
  }

  section(name: string): IniSection | undefined {
    return this.#sections.get(name);
  }

  hasSection(name: string): boolean {
    return name !== ROOT_SECTION && this.#sections.has(name);
  }

  /** The values of a section as Config::Tiny's hash holds them (last occurrence of a key wins). */
  values(name: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.#sections.get(name)?.entries ?? []) out[e.key] = e.value;
    return out;
  }

  toString(): string {
    let s = '';
    for (const l of this.lines) s += l.text + l.eol;
    return s;
  }

  /**
   * A copy without every `[name]` block. A block is its header, its entries and whatever lies
   * between them, the comment lines directly above the header (no blank line between, not the
   * file's opening comment) and comment lines directly after its last entry when a blank line
   * or the end of file follows them. One blank separator is dropped with it so spacing stays
   * even. Every other line is kept byte for byte. Returns `undefined` when there is no such block.
   */
  withoutSection(name: string): IniDocument | undefined {
    if (!this.hasSection(name)) return undefined;
    const lines = this.lines;
    const drop = new Array<boolean>(lines.length).fill(false);
    const isHeader = (i: number) => lines[i].kind === 'section';
    for (let h = 0; h < lines.length; h++) {
      if (!(isHeader(h) && lines[h].section === name)) continue;
      let next = h + 1;
      while (next < lines.length && !isHeader(next)) next++;
      // Last line that belongs to the block body: an entry or an unparsable line.
      let last = h;
      for (let i = h + 1; i < next; i++) if (lines[i].kind === 'entry' || lines[i].kind === 'invalid') last = i;
      // Trailing comments, unless they sit directly on top of the next header.
      let t = last + 1;
      while (t < next && lines[t].kind === 'comment') t++;
      if (t > last + 1 && (t === lines.length || lines[t].kind === 'blank')) last = t - 1;
      // Leading comments attached to the header.
      let first = h;
      while (first > 0 && lines[first - 1].kind === 'comment') first--;
      if (first === 0 && first < h) first = h;
      for (let i = first; i <= last; i++) drop[i] = true;
      // Spacing: drop the blank run after the block when a blank (or the file start) precedes it;
      // when the block ran to the end of the file, drop the blank run before it instead.
      let after = last + 1;
      while (after < lines.length && lines[after].kind === 'blank') after++;
      const blankOrStartBefore = first === 0 || lines[first - 1].kind === 'blank';
      if (after === lines.length) {
        for (let i = last + 1; i < after; i++) drop[i] = true;
        for (let i = first - 1; i >= 0 && lines[i].kind === 'blank' && !drop[i]; i--) drop[i] = true;
      } else if (blankOrStartBefore) {
        for (let i = last + 1; i < after; i++) drop[i] = true;
      }
      h = last;
    }
    return IniDocument.parse(
      lines
        .filter((_, i) => !drop[i])
        .map((l) => l.text + l.eol)
        .join(''),
    );
  }

  /**
   * A copy with a new `[name]` block appended at the end, written in the file's own style
   * (`key=value` or `key = value`, line terminators), after one blank line.
   */
  withSection(name: string, entries: ReadonlyArray<readonly [string, string]>): IniDocument {
    if (this.hasSection(name)) throw new Error(`[${name}] already exists`);
    checkSectionName(name);
    for (const [key, value] of entries) checkEntry(key, value);
    const eol = dominantEol(this.lines);
    const spaced = this.lines.filter((l) => l.kind === 'entry' && /\s=\s/.test(l.text)).length;
    const tight = this.lines.filter((l) => l.kind === 'entry' && !/\s=\s/.test(l.text)).length;
    const sep = spaced > tight ? ' = ' : '=';
    let text = this.toString();
    if (text.length > 0 && !/[\r\n]$/.test(text)) text += eol;
    const lastLine = this.lines[this.lines.length - 1];
    if (lastLine && lastLine.kind !== 'blank') text += eol;
    text += `[${name}]${eol}`;
    for (const [key, value] of entries) text += `${key}${sep}${value}${eol}`;
    return IniDocument.parse(text);
  }
}

function checkSectionName(name: string): void {
  if (name !== name.trim() || name === '' || /[\r\n[\]]/.test(name) || name === ROOT_SECTION) {
    throw new Error(`invalid block name "${name}"`);
  }
}

/** Refuse what Config::Tiny would not read back as written. */
function checkEntry(key: string, value: string): void {
  if (key !== key.trim() || key === '' || /[=\r\n]/.test(key) || /^[#;[]/.test(key)) {
    throw new Error(`invalid parameter name "${key}"`);
  }
  if (/[\r\n]/.test(value)) throw new Error(`${key}: a value cannot span lines`);
  if (value !== value.trim()) throw new Error(`${key}: leading or trailing blanks would be lost`);
  if (INLINE_COMMENT_RE.test(value)) throw new Error(`${key}: " ; " would start a comment in "${value}"`);
}

/**
 * Replace a file's content atomically: write a temporary file in the same directory, flush it,
 * give it the original's mode (and owner, when running as root), rename it over the original
 * (through symlinks, to their target) and flush the directory. Readers see the old or the new
 * file, never a mix.
 */
export function writeFileAtomic(path: string, data: string, opts: { mode?: number } = {}): void {
  const target = existsSync(path) ? realpathSync(path) : path;
  const previous = existsSync(target) ? statSync(target) : undefined;
  const mode = opts.mode ?? (previous ? previous.mode & 0o7777 : 0o600);
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode);
    if (previous && process.getuid?.() === 0) chownSync(tmp, previous.uid, previous.gid);
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never created
    }
    throw err;
  }
  try {
    const dirFd = openSync(dirname(target), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // some filesystems refuse to fsync a directory; the rename itself is still atomic
  }
}

/**
 * Read an ini file, let `edit` return the new document (or `undefined` for "no change"), and
 * write it atomically. Fails rather than overwrite a change made by someone else meanwhile.
 */
export function editIniFile(path: string, edit: (doc: IniDocument) => IniDocument | undefined): boolean {
  const before = readFileSync(path, 'utf8');
  const edited = edit(IniDocument.parse(before));
  if (!edited) return false;
  if (readFileSync(path, 'utf8') !== before) {
    throw new Error(`${path} changed while it was being edited; nothing written, try again`);
  }
  writeFileAtomic(path, edited.toString());
  return true;
}
