/**
 * npm run fuzz -- --seconds N --seed S [--inputs N] [--workers W] [--per-input-ms MS]
 *                 [--config-every N] [--out DIR] [--json FILE]
 * npm run fuzz -- --replay S:I          (rerun one input in this process, with its stack)
 *
 * Mutation fuzzing of the binlog parser (every decoder, rows with JSON binary, compressed
 * events and payloads, the transaction and relay-log trackers) over the committed fixtures,
 * and of the MHA configuration parser. Every input must end in a valid parse or the typed
 * error (BinlogFormatError / ConfigError), within the per-input time bound. Exit code 1
 * when anything else happened (crash, hang, out of memory).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../src/manager/config/index.js';
import { makeConfigInput } from './config-mutate.js';
import { loadCorpus } from './corpus.js';
import { type FuzzSummary, runFuzz } from './driver.js';
import { exercise } from './exercise.js';
import { makeInput } from './mutate.js';

export function formatSummary(s: FuzzSummary): string {
  const lines = [
    `fuzz seed ${s.seed}: ${s.inputs} inputs (${s.binlogInputs} binlog, ${s.configInputs} config) in ${s.seconds} s, ${s.perSecond}/s`,
    `  crashes ${s.crashes}, hangs ${s.hangs}, out-of-memory ${s.oom}; typed errors wrapping a decoder exception ${s.masked}`,
    `  heap ${s.heapMb.first} MB → ${s.heapMb.last} MB (max ${s.heapMb.max} MB)`,
    `  outcomes: ${Object.entries(s.counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ];
  for (const f of s.findings) {
    lines.push(
      `  ${f.kind} (${f.target}) ×${f.count}, first at input ${s.seed}:${f.index}: ${f.message}${f.ops ? ` [${f.ops.join(' ')}]` : ''}`,
    );
  }
  return lines.join('\n');
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = argv[i];
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
}

async function main(argv: string[]): Promise<number> {
  const replay = arg(argv, 'replay');
  if (replay) {
    const [seed, index] = replay.split(':').map(Number);
    const every = Number(arg(argv, 'config-every') ?? 10);
    if (every > 0 && index % every === 0) {
      const { text, ops } = makeConfigInput(seed, index);
      process.stdout.write(`config input ${seed}:${index} [${ops.join(' ')}]\n${text}\n---\n`);
      const file = `/tmp/mha-fuzz-replay-${process.pid}.cnf`;
      writeFileSync(file, text);
      try {
        loadConfig({ appFile: file, globalFile: null, env: {}, runInitConfLoadScript: false });
        process.stdout.write('ok\n');
      } catch (err) {
        process.stdout.write(`${err instanceof ConfigError ? 'ConfigError' : 'OTHER'}: ${(err as Error).stack}\n`);
      }
      return 0;
    }
    const input = makeInput(loadCorpus(), seed, index);
    process.stdout.write(`binlog input ${seed}:${index}: ${input.bytes.length} bytes [${input.ops.join(' ')}]\n`);
    const t = Date.now();
    const out = exercise(input);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n${Date.now() - t} ms\n`);
    return 0;
  }
  const inputs = arg(argv, 'inputs');
  const summary = await runFuzz({
    seed: Number(arg(argv, 'seed') ?? 1),
    seconds: arg(argv, 'seconds') !== undefined ? Number(arg(argv, 'seconds')) : undefined,
    inputs: inputs !== undefined ? Number(inputs) : undefined,
    workers: Number(arg(argv, 'workers') ?? 1),
    perInputMs: Number(arg(argv, 'per-input-ms') ?? 5000),
    configEvery: Number(arg(argv, 'config-every') ?? 10),
    outDir: arg(argv, 'out') ?? '/tmp/mha-fuzz-findings',
    onProgress: (s) =>
      process.stderr.write(
        `  … ${s.inputs} inputs, ${s.perSecond}/s, crashes ${s.crashes}, hangs ${s.hangs}, heap ${s.heapMb.last} MB\n`,
      ),
  });
  process.stdout.write(`${formatSummary(summary)}\n`);
  const json = arg(argv, 'json');
  if (json) writeFileSync(json, `${JSON.stringify(summary, null, 2)}\n`);
  return summary.crashes + summary.hangs + summary.oom === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
