import { stemmer } from 'stemmer';

/**
 * The embedding port (DESIGN §1, §5). `model`, `version` and `dimensions` are recorded on every
 * chunk, so a search can tell when the index was built by another embedder.
 */
export interface Embedder {
  readonly model: string;
  /** Bumped whenever the same input would give other vectors (features, weights, served weights). */
  readonly version: string;
  readonly dimensions: number;
  /** One vector per input, in input order. Never returns a zero vector: failures throw. */
  embed(texts: string[]): Promise<Float32Array[]>;
}

/**
 * Deterministic local embedder: the embedded default and the tests' embedder. No network, no
 * weights, a few microseconds per chunk.
 *
 * Signed feature hashing (the "hashing trick") of three feature families, each weighted by
 * 1 + ln(term frequency):
 * - word stems (Porter, after Unicode folding and an English stop-word list) — paraphrases that
 *   share stems ("terminate", "termination") meet here;
 * - adjacent stem pairs — keeps some word order ("late payment" vs "payment late fee");
 * - character trigrams of each word with boundary marks — morphological variants the stemmer
 *   leaves apart ("pay"/"payment", "renewal"/"renew"), spelling variants and codes.
 * The vector is L2-normalised, so cosine similarity is the dot product. There are no synonyms:
 * words that share nothing in spelling do not meet (the HTTP embedder does that).
 */
export class LocalHashEmbedder implements Embedder {
  readonly model = 'frostbyte-local-hash';
  readonly version = '1';
  readonly dimensions: number;

  constructor(opts: { dimensions?: number } = {}) {
    this.dimensions = opts.dimensions ?? 384;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => embedLocally(t, this.dimensions));
  }
}

/** Family weights: stems carry meaning, pairs and trigrams refine it. */
const STEM_WEIGHT = 1.0;
const PAIR_WEIGHT = 0.6;
/** Spread over a word's trigrams so a long word does not outweigh its stem. */
const TRIGRAM_WEIGHT = 1.0;

export function embedLocally(text: string, dimensions: number): Float32Array {
  const features = new Map<string, number>();
  const add = (feature: string, weight: number) => features.set(feature, (features.get(feature) ?? 0) + weight);

  const words = tokenize(text);
  let previous: string | undefined;
  for (const word of words) {
    const stem = /^\p{N}+$/u.test(word) ? word : stemmer(word);
    add(`w:${stem}`, 1);
    if (previous !== undefined) add(`p:${previous} ${stem}`, 1);
    previous = stem;
    const marked = `<${word}>`;
    const trigrams = marked.length - 2;
    for (let i = 0; i < trigrams; i++) add(`t:${marked.slice(i, i + 3)}`, 1 / trigrams);
  }
  if (features.size === 0) add(`raw:${text.trim().toLowerCase()}`, 1);

  const vector = new Float32Array(dimensions);
  for (const [feature, count] of features) {
    const family = feature.charCodeAt(0);
    const familyWeight = family === 119 /* w */ ? STEM_WEIGHT : family === 112 /* p */ ? PAIR_WEIGHT : TRIGRAM_WEIGHT;
    // Trigram counts are fractional (1/trigrams per word); dampen whole-word repetitions only.
    const tf = family === 116 /* t */ ? Math.sqrt(count) : 1 + Math.log(count);
    const h = hash32(feature);
    const sign = h & 0x80000000 ? -1 : 1;
    vector[(h & 0x7fffffff) % dimensions] += sign * familyWeight * tf;
  }
  return normalize(vector);
}

/** Folded words: NFKD without marks, lower case, letters and digits, no stop words or single letters. */
export function tokenize(text: string): string[] {
  const folded = text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
  const out: string[] = [];
  for (const match of folded.matchAll(/[\p{L}\p{N}]+/gu)) {
    const word = match[0];
    if (word.length === 1 && !/\p{N}/u.test(word)) continue;
    if (STOP_WORDS.has(word)) continue;
    out.push(word);
  }
  return out;
}

/** Unit length, or a thrown error for a zero vector (never stored, never searched). */
export function normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum);
  if (!(norm > 0) || !Number.isFinite(norm)) throw new Error('cannot normalise a zero or non-finite vector');
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i] / norm;
  return out;
}

/** FNV-1a over UTF-16 code units with murmur3's finaliser for avalanche; stable across runtimes. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** English function words: they carry no topic and would dominate a hashed vector. */
const STOP_WORDS = new Set(
  (
    'a about above after again against all also am an and any are as at be because been before being below between both but by can ' +
    'could did do does doing down during each either else ever every few for from further had has have having he her here hers ' +
    'herself him himself his how however i if in into is it its itself just least less let may me might more most must my myself ' +
    'neither no nor not now of off on once only or other ought our ours ourselves out over own per same shall she should since so ' +
    'some such than that the their theirs them themselves then there these they this those through thus to too under until up upon ' +
    'us very via was we were what when where whether which while who whom whose why will with within without would yet you your ' +
    'yours yourself yourselves'
  ).split(' '),
);
