/**
 * `masterha_conf_host` / `mha conf-host`: add a `[server…]` block to an application
 * configuration, or delete one, keeping every other line (comments included) as it was —
 * MHA rewrote the whole file through Config::Tiny and lost them.
 */
import { existsSync } from 'node:fs';
import {
  addServerBlock,
  ConfigError,
  confHostBlockName,
  deleteBlock,
  parseConfHostParams,
} from '../../manager/config/index.js';
import { type OptionSpec, renderHelp, runMhaTool, str, type ToolIO } from '../node-tools/options.js';

export const CONF_HOST_SPECS: OptionSpec[] = [
  { name: 'command', kind: 'string', value: 'add|delete|remove', help: 'what to do; required' },
  { name: 'conf', kind: 'string', value: 'FILE', help: 'the application configuration to edit; required, must exist' },
  { name: 'hostname', kind: 'string', value: 'HOST', help: 'hostname of the server (required for add)' },
  {
    name: 'block',
    kind: 'string',
    value: 'NAME',
    help: 'block name; "server" is prefixed unless present (default: server_<hostname>)',
  },
  {
    name: 'params',
    kind: 'string',
    value: '"k1=v1;k2=v2"',
    help: 'parameters of the new block, checked against the parameter list',
  },
];

export interface ConfHostOptions {
  command?: string;
  conf?: string;
  hostname?: string;
  block?: string;
  params?: string;
}

export async function confHostTool(o: ConfHostOptions, io: ToolIO): Promise<number> {
  if (!o.command) {
    io.warn('--command=<add|remove> must be set.');
    return 1;
  }
  if (!o.conf) {
    io.warn('--conf=<target_conf_file> must be set.');
    return 1;
  }
  if (!existsSync(o.conf)) {
    io.warn(`${o.conf} does not exist!`);
    return 1;
  }
  if (!o.block && !o.hostname) {
    io.warn('--block=<block_name> must be set.');
    return 1;
  }
  const block = confHostBlockName({ block: o.block, hostname: o.hostname });
  try {
    if (o.command === 'add') {
      if (!o.hostname) {
        io.warn('--hostname=<new_host_name> must be set.');
        return 1;
      }
      io.out(addServerBlock(o.conf, { block, hostname: o.hostname, params: parseConfHostParams(o.params) }));
      return 0;
    }
    if (o.command === 'delete' || o.command === 'remove') {
      io.out(deleteBlock(o.conf, block).message);
      return 0;
    }
    io.warn(`Unknown --command=${o.command}: use add, delete or remove.`);
    return 1;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const i of err.issues) {
        io.warn(
          i.message.startsWith('Entry ')
            ? i.message
            : `${i.file ?? o.conf}: [${i.block ?? block}]${i.key ? ` ${i.key}` : ''}: ${i.message}`,
        );
      }
      return 1;
    }
    throw err;
  }
}

export function confHostOptionsFrom(opts: Record<string, string | number | boolean | undefined>): ConfHostOptions {
  return {
    command: str(opts, 'command'),
    conf: str(opts, 'conf'),
    hostname: str(opts, 'hostname'),
    block: str(opts, 'block'),
    params: str(opts, 'params'),
  };
}

export async function masterhaConfHostMain(argv: string[], io?: ToolIO): Promise<number> {
  return runMhaTool({
    tool: 'masterha_conf_host',
    argv,
    specs: CONF_HOST_SPECS,
    io,
    help: () =>
      renderHelp({
        synopsis:
          'masterha_conf_host --command=add --conf=FILE --hostname=HOST [--block=NAME] [--params="k1=v1;k2=v2"]\n' +
          '       masterha_conf_host --command=delete --conf=FILE --block=NAME | --hostname=HOST',
        description:
          'Adds a server block to an application configuration, or deletes one. Every other line, comments included, ' +
          'is kept byte for byte and the file is replaced atomically.',
        specs: CONF_HOST_SPECS,
        exitCodes: [
          [
            0,
            'Wrote <block> entry to <file> . / Deleted <block> entry from <file> . / Entry <block> not found from <file> .',
          ],
          [1, 'usage or validation error (unknown parameter, block already exists, …)'],
        ],
      }),
    run: async (opts, _given, tio) => confHostTool(confHostOptionsFrom(opts), tio),
  });
}
