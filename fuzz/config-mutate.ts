/**
 * Mutated MHA configuration files (app1.cnf) for the configuration parser: lines dropped,
 * duplicated and swapped, every known parameter with odd values, odd section headers,
 * byte damage, CR/LF and BOM variants. Input i of seed s is a pure function of (s, i).
 */
import { PARAMETERS } from '../src/manager/config/index.js';
import { deriveSeed, Rng } from '../trials/rng.js';

const BASE = [
  '# app1.cnf',
  '[server default]',
  'user=root',
  'password=secret',
  'repl_user=repl',
  'repl_password=replsecret',
  'ssh_user=root',
  'ssh_options=-i /root/.ssh/id -o StrictHostKeyChecking=yes -o ConnectTimeout=3',
  'manager_workdir=/var/log/masterha/app1',
  'manager_log=/var/log/masterha/app1/manager.log',
  'remote_workdir=/var/tmp',
  'ping_interval=3',
  'master_binlog_dir=/var/lib/mysql',
  '',
  '[server1]',
  'hostname=db1',
  'port=3306',
  'candidate_master=1',
  '',
  '[server2]',
  'hostname=db2',
  'ip=10.0.0.2',
  '',
  '[server3]',
  'hostname=db3',
  'no_master=1',
  '',
];

const ODD_VALUES = [
  '',
  ' ',
  '0',
  '1',
  '-1',
  '2147483648',
  '99999999999999999999999',
  '1e3',
  '0x10',
  'yes',
  'on',
  "'quoted'",
  '"quoted"',
  "'",
  '"',
  '`x`',
  '\\',
  '$(id)',
  '; DROP TABLE x',
  '~/file',
  '/nonexistent/dir/file',
  '-o',
  '-i',
  '-o UserKnownHostsFile=',
  '[server9]',
  '=',
  '==',
  'a=b=c',
  '#comment',
  'x'.repeat(5000),
  '\u00e9\u4e2d\u{1f600}',
  '\u0000',
  'SELECT,INSERT',
];

export function makeConfigInput(seed: number, index: number): { text: string; ops: string[] } {
  const r = new Rng(deriveSeed(seed ^ 0x0c0f, index));
  const lines = [...BASE];
  const ops: string[] = [];
  const rounds = r.int(1, 6);
  for (let k = 0; k < rounds; k++) {
    const op = r.weighted({ param: 6, drop: 2, dup: 2, swap: 1, section: 2, bytes: 2, truncate: 1 } as const);
    const at = r.int(0, lines.length);
    switch (op) {
      case 'param': {
        const p = r.pick(PARAMETERS);
        const v = r.chance(0.6) ? r.pick(ODD_VALUES) : r.pick(p.values ?? ['1', 'x', String(r.int(-5, 70000))]);
        const sep = r.pick(['=', ' = ', '=', ':', ' ']);
        lines.splice(at, 0, `${r.chance(0.1) ? p.name.toUpperCase() : p.name}${sep}${v}`);
        ops.push(`param ${p.name}`);
        break;
      }
      case 'drop':
        lines.splice(at, 1);
        ops.push('drop');
        break;
      case 'dup':
        lines.splice(at, 0, lines[r.int(0, lines.length - 1)] ?? '');
        ops.push('dup');
        break;
      case 'swap': {
        const b = r.int(0, lines.length - 1);
        const a = Math.min(at, lines.length - 1);
        [lines[a], lines[b]] = [lines[b], lines[a]];
        ops.push('swap');
        break;
      }
      case 'section':
        lines.splice(
          at,
          0,
          r.pick([
            '[server default]',
            '[server1]',
            '[server]',
            '[]',
            '[server 1]',
            '[binlog1]',
            '[server1',
            'server1]',
            '[[x]]',
            `[server${r.int(0, 99999)}]`,
            '[server default] trailing',
          ]),
        );
        ops.push('section');
        break;
      case 'bytes': {
        const i = Math.min(at, lines.length - 1);
        const s = lines[i] ?? '';
        const p = r.int(0, s.length);
        lines[i] =
          s.slice(0, p) +
          String.fromCharCode(r.pick([0, 9, 13, 0x22, 0x27, 0x3d, 0x5b, 0x5d, r.int(0, 0xffff)])) +
          s.slice(p);
        ops.push('bytes');
        break;
      }
      case 'truncate':
        lines.length = Math.min(lines.length, at);
        ops.push('truncate');
        break;
    }
  }
  let text = lines.join(r.chance(0.2) ? '\r\n' : '\n');
  if (r.chance(0.05)) text = `\ufeff${text}`;
  return { text, ops };
}
