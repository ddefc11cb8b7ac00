import { type Command, Option } from 'commander';
import { formatStatement, type RenderedStatement, renderEventsAsync, SqlRenderError } from '../engine/sql-renderer.js';
import { CliError, ExitCode } from './exit-codes.js';
import { createProgress, expandLogArgs, nonNegativeInt, readLogSet } from './log-set.js';

export interface SqlOptions {
  startPosition?: number;
  stopPosition?: number;
  gtids?: boolean;
  preamble?: boolean;
  sqlLogBin?: 'on' | 'off';
  verifyChecksum?: boolean;
}

/**
 * The SQL that re-applies the events of a log set, as `mysqlbinlog FILE... | mysql` would
 * send it: rendered only, never executed. One session over all files, so a transaction
 * that spans files is not cut; an incomplete last transaction ends in ROLLBACK.
 */
export async function renderSql(args: string[], opts: SqlOptions, out: NodeJS.WritableStream): Promise<void> {
  const inputs = await expandLogArgs(args);
  const progress = await createProgress(inputs, { streamsToStdout: true });
  async function* events() {
    for await (const { events } of readLogSet(inputs, {
      startPosition: opts.startPosition,
      stopPosition: opts.stopPosition,
      verifyChecksum: opts.verifyChecksum,
      progress,
    })) {
      yield* events;
    }
  }
  const write = async (chunk: string | Buffer) => {
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  };
  let previous: RenderedStatement | undefined;
  try {
    for await (const st of renderEventsAsync(events(), {
      gtids: opts.gtids,
      preamble: opts.preamble,
      sqlLogBin: opts.sqlLogBin === undefined ? undefined : opts.sqlLogBin === 'on',
    })) {
      const text = formatStatement(st, previous);
      previous = st;
      if (st.sqlBytes) {
        // Bytes that are not UTF-8 (latin1 literals, binary strings) go out as they were logged.
        await write(text.slice(0, text.length - st.sql.length - 2));
        await write(Buffer.concat([st.sqlBytes, Buffer.from(';\n')]));
      } else {
        await write(text);
      }
    }
  } catch (err) {
    if (err instanceof SqlRenderError) throw new CliError(`cannot render as SQL: ${err.message}`, ExitCode.BAD_INPUT);
    throw err;
  } finally {
    progress?.stop();
  }
}

/** `mha binlog sql`. */
export function defineSqlCommand(parent: Command): Command {
  return parent
    .command('sql')
    .description(
      'print the SQL that re-applies the events (statements with their session context, row events as BINLOG, GTIDs kept); nothing is executed',
    )
    .argument('<logs...>', 'binlog or relay-log files, a directory or an index file; "-" reads standard input')
    .option('--start-position <n>', 'first file: start at this offset (an event boundary)', nonNegativeInt)
    .option(
      '--stop-position <n>',
      'last file: stop at the first event starting at or after this offset',
      nonNegativeInt,
    )
    .option('--no-gtids', 'do not set the GTIDs of the transactions (the target assigns its own)')
    .option('--no-preamble', "leave out mysqlbinlog's session preamble (pseudo_slave_mode, completion_type, …)")
    .addOption(new Option('--sql-log-bin <on|off>', 'set sql_log_bin for the session').choices(['on', 'off']))
    .addOption(new Option('--no-verify-checksum', 'do not verify CRC32 checksums'))
    .action(async (files: string[], opts: SqlOptions) => {
      await renderSql(files, opts, process.stdout);
    });
}
