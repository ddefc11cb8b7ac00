import { Command, CommanderError } from 'commander';
import { defineDiffCommand } from './binlog-diff.js';
import { defineFindCommand } from './binlog-find.js';
import { defineInspectCommand } from './binlog-inspect.js';
import { defineSqlCommand } from './binlog-sql.js';
import { defineStatsCommand } from './binlog-stats.js';
import { CliError, ExitCode } from './exit-codes.js';
import { registerManagerToolCommands } from './manager-tools/index.js';
import { registerNodeToolCommands } from './node-tools/index.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  usage error (unknown option, bad argument)
  2  bad input: a file that is missing, unreadable, not a binlog, truncated or corrupt
  3  not found: "binlog find" found no relay-log position for the master position
  4  operation failed (server or network error, an output file that cannot be written)`;

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

  for (const define of [
    defineInspectCommand,
    defineStatsCommand,
    defineFindCommand,
    defineDiffCommand,
    defineSqlCommand,
  ]) {
    define(binlog).addHelpText('after', EXIT_CODES_HELP);
  }

  // MHA node tools under their modern names (src/cli/node-tools/): binlog save, binlog apply, relay purge.
  registerNodeToolCommands(program, binlog);

  // MHA manager tools under their modern names (src/cli/manager-tools/): check-ssh, check-repl, status, stop, conf-host.
  registerManagerToolCommands(program);

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
      if (err.message) process.stderr.write(`mha: error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`mha: internal error: ${(err as Error).stack ?? err}\n`);
    return ExitCode.FAILED;
  }
}
