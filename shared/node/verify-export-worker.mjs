// Entry of an audit-verify worker thread (verify-export-file.ts starts one per stretch of the file).
// Like parse-worker.mjs it registers tsx in its own namespace — a worker does not inherit the
// parent's TypeScript loader — then checks its stretch and posts the summary (null: a problem).
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

const tsx = register({ namespace: 'frostbyte-verify-worker' });
const { checkFileSegment } = await tsx.import('./verify-export-segment.ts', import.meta.url);

parentPort.postMessage(await checkFileSegment(workerData));
