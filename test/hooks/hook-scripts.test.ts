/**
 * The shipped hooks as scripts, without any network: they parse, lint clean (when
 * shellcheck is installed), read their config strictly and fail with a clear message and
 * exit 1 — never 0 or 10 — on what they cannot do.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../lab/netns-lab.js';
import { HOOKS_DIR, hookPath, writeHookConfig } from './hook-helpers.js';

const HOOKS = ['mha-vip', 'mha-keepalived', 'mha-haproxy'] as const;
const dir = mkdtempSync(join(tmpdir(), 'mha-hookscripts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hasShellcheck(): boolean {
  try {
    execFileSync('shellcheck', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function hook(name: (typeof HOOKS)[number], args: string[]) {
  const r = await runCommand(hookPath(name), args, { timeoutMs: 30_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

describe('shipped hook scripts', () => {
  it('are executable bash that parses', async () => {
    for (const h of [...HOOKS, 'mha-hook-lib.sh']) {
      const r = await runCommand('bash', ['-n', join(HOOKS_DIR, h)]);
      expect(r.code, `${h}: ${r.stderr}`).toBe(0);
    }
    for (const h of HOOKS) expect(existsSync(hookPath(h))).toBe(true);
  });

  it.skipIf(!hasShellcheck())('are clean under shellcheck', async () => {
    const r = await runCommand(
      'shellcheck',
      ['-x', ...HOOKS.map((h) => hookPath(h)), join(HOOKS_DIR, 'mha-hook-lib.sh')],
      {
        timeoutMs: 60_000,
      },
    );
    expect(r.code, r.stdout).toBe(0);
  });

  it('read key = value configs with comments and quotes, and refuse unknown keys', async () => {
    const ok = join(dir, 'ok.conf');
    writeFileSync(
      ok,
      [
        '# a comment',
        '; another',
        'vip = 10.0.0.100/32   # inline comment',
        'interface="eth0"',
        "ssh_options = '-o ConnectTimeout=2'",
        'verify=none',
        '',
      ].join('\n'),
    );
    // The config is fine; the command is not: the hook gets as far as the command.
    const r = await hook('mha-vip', [`--config=${ok}`, '--command', 'bogus']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('unknown --command=bogus');
    const bad = writeHookConfig(join(dir, 'bad.conf'), { vip: '10.0.0.100', verfy: 'none' });
    const r2 = await hook('mha-vip', [`--config=${bad}`, '--command=status']);
    expect(r2.code).toBe(1);
    expect(r2.out).toContain("unknown setting 'verfy'");
  });

  it('refuse bad values before touching anything', async () => {
    const cases: [(typeof HOOKS)[number], Record<string, string>, string][] = [
      ['mha-vip', { vip: '10.0.0.300/32' }, 'is not an IPv4 address'],
      ['mha-vip', { vip: '10.0.0.1/40' }, 'bad prefix length'],
      ['mha-vip', { vip: '10.0.0.1', dad_wait_ms: '$(reboot)' }, "dad_wait_ms: '$(reboot)' is not a whole number"],
      ['mha-vip', { vip: '10.0.0.1', interface: 'eth0;rm' }, 'is not an interface name'],
      ['mha-keepalived', { vip: '10.0.0.1' }, 'keepalived_hosts is empty'],
      ['mha-haproxy', { haproxy_sockets: '/nonexistent.sock' }, 'write_backend is not set'],
    ];
    for (const [name, settings, message] of cases) {
      const conf = writeHookConfig(join(dir, `${name}.conf`), settings);
      const r = await hook(name, [`--config=${conf}`, '--command=status', '--orig_master_host=10.0.0.11']);
      expect(r.code, `${name} ${JSON.stringify(settings)}: ${r.out}`).toBe(1);
      expect(r.out).toContain(message);
    }
  });

  it('exit 1 with the reason when a config file or --command is missing', async () => {
    const r = await hook('mha-haproxy', ['--config=/nonexistent/haproxy.conf', '--command=start']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('cannot read the config file /nonexistent/haproxy.conf');
    const conf = writeHookConfig(join(dir, 'h.conf'), { write_backend: 'w', haproxy_sockets: join(dir, 'no.sock') });
    const r2 = await hook('mha-haproxy', [`--config=${conf}`]);
    expect(r2.code).toBe(1);
    expect(r2.out).toContain('missing --command');
  });

  it.skipIf(!existsSync('/usr/bin/socat'))(
    'mha-haproxy: an unreachable admin socket aborts (nothing was moved)',
    async () => {
      const conf = writeHookConfig(join(dir, 'h2.conf'), {
        write_backend: 'mysql_write',
        haproxy_sockets: join(dir, 'no.sock'),
        socket_timeout: 2,
      });
      const r = await hook('mha-haproxy', [
        `--config=${conf}`,
        '--command=start',
        '--orig_master_host=10.0.0.11',
        '--new_master_host=10.0.0.12',
        '--new_master_ip=10.0.0.12',
        '--new_master_port=3306',
      ]);
      expect(r.code).toBe(1);
      expect(r.out).toContain('no HAProxy instance could be updated');
    },
  );
});
