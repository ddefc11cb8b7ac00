// Worker threads do not inherit tsx's loader: register it (with the test tsconfig, whose
// paths map @mha-ts/native-free-parsers to its sources), then load the TypeScript worker.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register({ tsconfig: workerData.tsconfig });
await import(workerData.entry);
