/**
 * `npx tsx bench/embedder.ts` — time of the local embedder per chunk, run by hand (no goal, no
 * assertion). Two corpora of 1,650 chunks of ~800 chars, the size of `bench:pipeline`'s index
 * step: contract prose with a small vocabulary (what the pipeline benchmark indexes) and prose of
 * ~40,000 made-up words with accents and numbers (most of the word cache's room, and every text
 * takes the NFKD path). The first pass over each corpus is cold (empty caches, unoptimised code);
 * the steady figure is the median of the following passes.
 */
import { embedLocally } from '../shared/index/embedder';
import { contractSentence, createRandom } from '../tests/fixtures/build';

const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 1650);
const PASSES = Number(process.env.BENCH_PASSES ?? 15);
const DIMENSIONS = 384;



function contractCorpus(): string[] {
  const random = createRandom(1);
  return Array.from({ length: CHUNKS }, (_, i) => {
    let text = `Clause ${i}.1 binds the Supplier to deliver service level ${i * 7}. `;
    while (text.length < 800) text += `${contractSentence(random)} `;
    return text.trim();
  });
}

function variedCorpus(): string[] {
  const random = createRandom(2);
  const syllables = ['ka', 'lo', 'mi', 'ne', 'stra', 'qu', 'bé', 'tion', 'ar', 'ü', 'ver', 'ing', 'ment', 'pre', 'ß', 'ø'];
  const vocabulary = Array.from({ length: 40_000 }, () => {
    let w = '';
    const n = 2 + Math.floor(random() * 4);
    for (let s = 0; s < n; s++) w += syllables[Math.floor(random() * syllables.length)];
    return random() < 0.1 ? w.toUpperCase() : w;
  });
  return Array.from({ length: CHUNKS }, () => {
    let text = '';
    while (text.length < 800) {
      const r = random();
      text += r < 0.05 ? `${Math.floor(random() * 100000)} ` : r < 0.2 ? 'the of and ' : `${vocabulary[Math.floor(random() * vocabulary.length)]} `;
    }
    return text;
  });
}

function pass(texts: string[]): number {
  const t0 = performance.now();
  let sink = 0;
  for (const t of texts) sink += embedLocally(t, DIMENSIONS)[0];
  const ms = performance.now() - t0;
  if (Number.isNaN(sink)) throw new Error('NaN in an embedding');
  return ms;
}

for (const [name, texts] of [['contract', contractCorpus()], ['varied', variedCorpus()]] as const) {
  const cold = pass(texts);
  const steady = Array.from({ length: PASSES }, () => pass(texts)).sort((a, b) => a - b)[Math.floor(PASSES / 2)];
  const per = (ms: number) => `${((ms / texts.length) * 1000).toFixed(1)} µs/chunk`;
  process.stdout.write(`${name.padEnd(9)} ${texts.length} chunks  cold ${cold.toFixed(0)} ms (${per(cold)})  steady ${steady.toFixed(1)} ms (${per(steady)})\n`);
}
