/**
 * A fuzzing worker thread: inputs start, start+stride, … of the seed, as fast as it can.
 * Before each input it stores the input's index in shared memory, so the driver can tell
 * a hang (the same index for too long) and name the input; every ~100 ms it yields and
 * reports counts and memory.
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { ConfigError, loadConfig } from '../src/manager/config/index.js';
import { makeConfigInput } from './config-mutate.js';
import { loadCorpus } from './corpus.js';
import { classify, exercise, type Outcome } from './exercise.js';
import { makeInput } from './mutate.js';

export interface WorkerData {
  seed: number;
  start: number;
  stride: number;
  /** Last index (exclusive); Infinity until stopped. */
  end: number;
  /** Int32 slots: [0] index being run (−1 idle), [1] stop flag. */
  shared: SharedArrayBuffer;
  /** Every Nth input is a configuration file instead of a binlog (0: never). */
  configEvery: number;
}

export type WorkerMessage =
  | {
      type: 'progress';
      done: number;
      counts: Record<string, number>;
      heapUsed: number;
      rss: number;
    }
  | { type: 'finding'; index: number; target: 'binlog' | 'config'; outcome: Outcome; ops: string[] }
  | { type: 'done'; done: number; counts: Record<string, number> };

const data = workerData as WorkerData;
const slots = new Int32Array(data.shared);
const corpus = loadCorpus();
const cnf = join(tmpdir(), `mha-fuzz-${process.pid}-${threadId}.cnf`);

function configOutcome(text: string): Outcome {
  writeFileSync(cnf, text);
  try {
    loadConfig({
      appFile: cnf,
      globalFile: null,
      env: {},
      osUser: 'root',
      homeDir: '/nonexistent-home',
      runInitConfLoadScript: false,
    });
    return { kind: 'ok', events: 0 };
  } catch (err) {
    if (err instanceof ConfigError) return { kind: 'typed', reason: 'config' };
    return classify(err);
  }
}

async function main(): Promise<void> {
  const counts: Record<string, number> = {};
  const bump = (k: string) => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  let done = 0;
  let lastReport = Date.now();
  for (let i = data.start; i < data.end; i += data.stride) {
    if (Atomics.load(slots, 1) !== 0) break;
    Atomics.store(slots, 0, i);
    const isConfig = data.configEvery > 0 && i % data.configEvery === 0;
    let outcome: Outcome;
    let ops: string[];
    if (isConfig) {
      const input = makeConfigInput(data.seed, i);
      ops = input.ops;
      outcome = configOutcome(input.text);
      bump(`config:${outcome.kind}`);
    } else {
      const input = makeInput(corpus, data.seed, i);
      ops = input.ops;
      outcome = exercise(input);
      bump(outcome.kind === 'typed' ? `binlog:typed:${outcome.reason}` : `binlog:${outcome.kind}`);
    }
    if (outcome.kind === 'crash' || outcome.kind === 'masked') {
      parentPort!.postMessage({
        type: 'finding',
        index: i,
        target: isConfig ? 'config' : 'binlog',
        outcome,
        ops,
      } satisfies WorkerMessage);
    }
    done++;
    if (Date.now() - lastReport >= 100) {
      lastReport = Date.now();
      const m = process.memoryUsage();
      parentPort!.postMessage({
        type: 'progress',
        done,
        counts: { ...counts },
        heapUsed: m.heapUsed,
        rss: m.rss,
      } satisfies WorkerMessage);
      await new Promise((r) => setImmediate(r));
    }
  }
  Atomics.store(slots, 0, -1);
  try {
    unlinkSync(cnf);
  } catch {
    // never written
  }
  parentPort!.postMessage({ type: 'done', done, counts } satisfies WorkerMessage);
}

await main();
