/**
 * Runs fuzzing workers and watches them: a worker stuck on one input longer than the
 * per-input bound is a hang (it is terminated, the input recorded, a fresh worker goes on
 * after it); a worker that runs out of its heap limit is an out-of-memory finding; memory
 * is sampled to see it does not grow. Findings name (seed, index), which rebuild the input.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { makeConfigInput } from './config-mutate.js';
import { loadCorpus } from './corpus.js';
import type { Outcome } from './exercise.js';
import { makeInput } from './mutate.js';
import type { WorkerData, WorkerMessage } from './worker.js';

export interface FuzzOptions {
  seed: number;
  /** Stop after this long (default 10 s unless `inputs` is given). */
  seconds?: number;
  /** Stop after this many inputs (indexes 0…inputs-1). */
  inputs?: number;
  workers?: number;
  /** An input running longer than this is a hang (default 5 s: generous on a loaded machine). */
  perInputMs?: number;
  /** Every Nth input is a configuration file (default 10; 0 = binlogs only). */
  configEvery?: number;
  /** Heap limit per worker; above it the input is an out-of-memory finding (default 768 MB). */
  maxHeapMb?: number;
  /** Where to write findings' inputs (bytes and description); none when unset. */
  outDir?: string;
  onProgress?: (s: FuzzSummary) => void;
}

export interface Finding {
  kind: 'crash' | 'hang' | 'oom' | 'masked';
  target: 'binlog' | 'config';
  index: number;
  message: string;
  stack?: string;
  ops?: string[];
  /** How many inputs hit the same finding (masked and crash findings are grouped by message). */
  count: number;
}

export interface FuzzSummary {
  seed: number;
  inputs: number;
  binlogInputs: number;
  configInputs: number;
  seconds: number;
  perSecond: number;
  counts: Record<string, number>;
  findings: Finding[];
  crashes: number;
  hangs: number;
  oom: number;
  masked: number;
  heapMb: { first: number; last: number; max: number };
}

const BOOT = fileURLToPath(new URL('./worker-boot.mjs', import.meta.url));
const ENTRY = new URL('./worker.ts', import.meta.url).href;
const TSCONFIG = fileURLToPath(new URL('../tsconfig.test.json', import.meta.url));

interface Slot {
  worker: Worker;
  shared: Int32Array;
  stride: number;
  /** Counts of this slot's finished worker instances. */
  banked: Record<string, number>;
  bankedDone: number;
  latest: Record<string, number>;
  latestDone: number;
  lastIndex: number;
  since: number;
  finished: boolean;
  /** Terminated and replaced after a hang or an error. */
  replaced: boolean;
}

const norm = (s: string) => s.replace(/\d+/g, 'N').slice(0, 200);

export async function runFuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const workers = Math.max(1, o.workers ?? 1);
  const perInputMs = o.perInputMs ?? 5000;
  const configEvery = o.configEvery ?? 10;
  const seconds = o.inputs === undefined ? (o.seconds ?? 10) : o.seconds;
  const end = o.inputs ?? Number.POSITIVE_INFINITY;
  const t0 = Date.now();
  const findings = new Map<string, Finding>();
  const heap: number[] = [];
  let corpus: ReturnType<typeof loadCorpus> | undefined;

  const record = (f: Omit<Finding, 'count'>) => {
    const key = `${f.kind}:${f.target}:${norm(f.message)}`;
    const seen = findings.get(key);
    if (seen) {
      seen.count++;
      return;
    }
    findings.set(key, { ...f, count: 1 });
    if (o.outDir && f.kind !== 'masked') {
      mkdirSync(o.outDir, { recursive: true });
      const base = join(o.outDir, `${o.seed}-${f.index}`);
      if (f.target === 'binlog') {
        corpus ??= loadCorpus();
        writeFileSync(`${base}.bin`, makeInput(corpus, o.seed, f.index).bytes);
      } else {
        writeFileSync(`${base}.cnf`, makeConfigInput(o.seed, f.index).text);
      }
      writeFileSync(`${base}.json`, `${JSON.stringify({ seed: o.seed, ...f }, null, 2)}\n`);
    }
  };

  const slots: Slot[] = [];
  const start = (k: number, from: number, banked: Record<string, number>, bankedDone: number): Slot => {
    const shared = new SharedArrayBuffer(8);
    const data: WorkerData = { seed: o.seed, start: from, stride: workers, end, shared, configEvery };
    const worker = new Worker(BOOT, {
      workerData: { ...data, entry: ENTRY, tsconfig: TSCONFIG },
      resourceLimits: { maxOldGenerationSizeMb: o.maxHeapMb ?? 768 },
      stdout: false,
      stderr: false,
    });
    const slot: Slot = {
      worker,
      shared: new Int32Array(shared),
      stride: workers,
      banked,
      bankedDone: bankedDone,
      latest: {},
      latestDone: 0,
      lastIndex: -1,
      since: Date.now(),
      finished: false,
      replaced: false,
    };
    slot.shared[0] = -1;
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress' || m.type === 'done') {
        slot.latest = m.counts;
        slot.latestDone = m.done;
        if (m.type === 'progress') heap.push(m.heapUsed);
        if (m.type === 'done') slot.finished = true;
      } else if (m.type === 'finding') {
        const out = m.outcome as Exclude<Outcome, { kind: 'ok' } | { kind: 'typed' }>;
        record({
          kind: out.kind,
          target: m.target,
          index: m.index,
          message: out.kind === 'crash' ? `${out.name}: ${out.message}` : out.message,
          stack: out.kind === 'crash' ? out.stack : undefined,
          ops: m.ops,
        });
      }
    });
    worker.on('error', (err: Error & { code?: string }) => {
      const index = Atomics.load(slot.shared, 0);
      const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      record({
        kind: oom ? 'oom' : 'crash',
        target: index % configEvery === 0 && configEvery > 0 ? 'config' : 'binlog',
        index,
        message: `${err.name}: ${err.message}`,
        stack: err.stack,
      });
      restart(k, index);
    });
    worker.on('exit', () => {
      slot.finished = true;
    });
    slots[k] = slot;
    return slot;
  };
  /** Replace slot k's worker by one starting after the input at `index`. */
  const restart = (k: number, index: number) => {
    const old = slots[k];
    if (old.replaced) return;
    old.replaced = true;
    const banked = { ...old.banked };
    for (const [key, v] of Object.entries(old.latest)) banked[key] = (banked[key] ?? 0) + v;
    const doneBefore = old.bankedDone + old.latestDone + 1;
    void old.worker.terminate();
    if (index + workers < end && !stopping) start(k, index + workers, banked, doneBefore);
    else {
      old.banked = banked;
      old.latest = {};
      old.bankedDone = doneBefore;
      old.latestDone = 0;
      old.finished = true;
    }
  };

  let stopping = false;
  for (let k = 0; k < workers; k++) start(k, k, {}, 0);

  const summary = (): FuzzSummary => {
    const counts: Record<string, number> = {};
    let inputs = 0;
    for (const s of slots) {
      for (const src of [s.banked, s.latest]) {
        for (const [key, v] of Object.entries(src)) counts[key] = (counts[key] ?? 0) + v;
      }
      inputs += s.bankedDone + s.latestDone;
    }
    const all = [...findings.values()];
    const sum = (k: Finding['kind']) => all.filter((f) => f.kind === k).reduce((a, f) => a + f.count, 0);
    const secs = (Date.now() - t0) / 1000;
    const configInputs = Object.entries(counts)
      .filter(([key]) => key.startsWith('config:'))
      .reduce((a, [, v]) => a + v, 0);
    const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
    return {
      seed: o.seed,
      inputs,
      binlogInputs: inputs - configInputs,
      configInputs,
      seconds: Math.round(secs * 10) / 10,
      perSecond: Math.round(inputs / Math.max(secs, 0.001)),
      counts,
      findings: all,
      crashes: sum('crash'),
      hangs: sum('hang'),
      oom: sum('oom'),
      masked: sum('masked'),
      heapMb: {
        first: mb(heap[Math.min(heap.length - 1, 5)] ?? 0),
        last: mb(heap.at(-1) ?? 0),
        max: mb(Math.max(0, ...heap.slice(5))),
      },
    };
  };

  let lastProgress = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = Date.now();
    for (let k = 0; k < slots.length; k++) {
      const s = slots[k];
      if (s.finished) continue;
      const idx = Atomics.load(s.shared, 0);
      if (idx !== s.lastIndex) {
        s.lastIndex = idx;
        s.since = now;
      } else if (idx >= 0 && now - s.since > perInputMs) {
        record({
          kind: 'hang',
          target: configEvery > 0 && idx % configEvery === 0 ? 'config' : 'binlog',
          index: idx,
          message: `input ${idx} still running after ${perInputMs} ms`,
        });
        restart(k, idx);
      }
    }
    if (o.onProgress && now - lastProgress > 5000) {
      lastProgress = now;
      o.onProgress(summary());
    }
    const timeUp = seconds !== undefined && now - t0 >= seconds * 1000;
    if (timeUp && !stopping) {
      stopping = true;
      for (const s of slots) Atomics.store(s.shared, 1, 1);
    }
    if (slots.every((s) => s.finished)) break;
    if (stopping && now - t0 > (seconds ?? 0) * 1000 + perInputMs + 5000) {
      // A worker that does not see the stop flag is hung on its input (recorded above).
      for (const s of slots) if (!s.finished) void s.worker.terminate();
      break;
    }
  }
  await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
  return summary();
}
