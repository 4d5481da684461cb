// Entry of a parse worker thread. Piscina loads it with plain Node (no TypeScript loader: under
// vitest or a bundled CLI the parent's loader is not inherited), so it registers tsx in its own
// namespace, which affects only the import below, then hands Piscina the TypeScript task.
import { register } from 'tsx/esm/api';

const tsx = register({ namespace: 'frostbyte-parse-worker' });
const { runParseTask } = await tsx.import('./parse-task.ts', import.meta.url);

export default runParseTask;
