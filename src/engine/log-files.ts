/**
 * Binlog and relay-log file names: `<base>.<digits>`. Order is numeric by suffix, never by
 * string (mysql-bin.999999 comes before mysql-bin.1000000).
 */
export interface LogFileName {
  name: string;
  base: string;
  number: number;
  /** Digits as written (their width is kept when the next name is derived). */
  digits: string;
}

export function parseLogFileName(name: string): LogFileName | null {
  const m = /^(.*)\.(\d+)$/.exec(name);
  if (!m) return null;
  return { name, base: m[1], number: Number(m[2]), digits: m[2] };
}

export function compareLogFileNames(a: string, b: string): number {
  const pa = parseLogFileName(a);
  const pb = parseLogFileName(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.base !== pb.base) return pa.base < pb.base ? -1 : 1;
  return pa.number - pb.number;
}

/** Files named `<base>.<digits>` among `names`, in numeric order. */
export function logFilesOf(names: string[], base: string): string[] {
  return names
    .filter((n) => {
      const p = parseLogFileName(n);
      return p !== null && p.base === base;
    })
    .sort(compareLogFileNames);
}

/** The names listed in an index file (mysql-bin.index), base names only, in their order. */
export function parseIndexFile(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.replace(/^.*\//, ''));
}
