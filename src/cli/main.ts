import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { inspect } from './binlog-inspect.js';
import { CliError, ExitCode } from './exit-codes.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  usage error (unknown option, bad argument)
  2  bad input: a file that is missing, unreadable, not a binlog, truncated or corrupt
  3  not found (lookups such as "binlog find")
  4  operation failed (server or network error)`;

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

export function buildProgram(): Command {
  const program = new Command('mha')
    .description('MySQL/MariaDB master high availability, on a pure-TypeScript binlog engine')
    .version('0.1.0')
    .showHelpAfterError()
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride();

  const binlog = program
    .command('binlog')
    .description('read binary logs and relay logs (mysqlbinlog-like toolbox)')
    .addHelpText('after', EXIT_CODES_HELP);

  binlog
    .command('inspect')
    .description(
      'list the events of binlog or relay-log files in order: position, time (UTC), server id, end_log_pos, type and a summary',
    )
    .argument('<files...>', 'binlog or relay-log files, in order; "-" reads standard input')
    .option(
      '--json',
      'one JSON object per event and line (fields: file, pos, end_log_pos, type, type_code, server_id, timestamp, length, flags, data)',
    )
    .option('--header-only', 'read only the 19-byte event headers (fastest; no checksum check, no decoding)')
    .option('--start-position <n>', 'first file: start reading at this offset (an event boundary)', nonNegativeInt)
    .option(
      '--stop-position <n>',
      'last file: stop at the first event starting at or after this offset',
      nonNegativeInt,
    )
    .option('--relay', 'relay logs: show the master file and position each event stands for, and who wrote it')
    .addOption(new Option('--no-verify-checksum', 'do not verify CRC32 checksums (they are verified by default)'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (files: string[], opts) => {
      await inspect(files, opts, process.stdout);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.OK);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        return ExitCode.OK;
      return ExitCode.USAGE;
    }
    if (err instanceof CliError) {
      process.stderr.write(`mha: error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`mha: internal error: ${(err as Error).stack ?? err}\n`);
    return ExitCode.FAILED;
  }
}
