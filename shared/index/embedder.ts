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
 * weights, some 30 µs per 800-character chunk once its words are cached.
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
  if (cachedEntries > MAX_CACHED_ENTRIES) clearFeatureCache();
  // Each call stamps the features it touches with a new epoch instead of filling a map of
  // strings (see touch).
  const epoch = ++currentEpoch;
  const touched: Feature[] = [];
  // Pairs of this call, by (previous stem id, stem id): pairs repeat within a text far more than
  // across texts, so they are not cached between calls.
  const pairs = new Map<number, Feature>();

  let previous: StemFeature | undefined;
  for (const word of tokenize(text)) {
    const w = wordFeatures(word);
    const stem = w.stem;
    touch(stem, 1, epoch, touched);
    if (previous !== undefined) {
      const key = previous.id * MAX_STEM_IDS + stem.id;
      let pair = pairs.get(key);
      if (pair === undefined) {
        pair = new Feature(pairHash(previous.text, stem.text), PAIR_WEIGHT, false);
        pairs.set(key, pair);
      }
      touch(pair, 1, epoch, touched);
    }
    previous = stem;
    const trigrams = w.trigrams;
    const weight = w.trigramWeight;
    for (let i = 0; i < trigrams.length; i++) touch(trigrams[i], weight, epoch, touched);
  }

  const vector = new Float32Array(dimensions);
  if (touched.length === 0) {
    // Text without words: one `raw:` feature, counted once (tf 1), weighted like a trigram.
    const h = hash32(`raw:${text.trim().toLowerCase()}`);
    vector[(h & 0x7fffffff) % dimensions] = h & 0x80000000 ? -TRIGRAM_WEIGHT : TRIGRAM_WEIGHT;
    return normalize(vector);
  }
  // `touched` is in order of first appearance, the order the features' float sums reach the
  // vector: another order would round differently.
  for (const f of touched) {
    // Trigram counts are fractional (1/trigrams per word); dampen whole-word repetitions only.
    const tf = f.trigram ? Math.sqrt(f.count) : 1 + Math.log(f.count);
    vector[(f.hash & 0x7fffffff) % dimensions] += f.signedWeight * tf;
  }
  return normalize(vector);
}

/** Adds `weight` to the feature's count in call `epoch`; its first touch in the call resets the count and lists it. */
function touch(f: Feature, weight: number, epoch: number, touched: Feature[]) {
  if (f.epoch === epoch) f.count += weight;
  else {
    f.epoch = epoch;
    f.count = weight;
    touched.push(f);
  }
}

/**
 * A hashed feature (`w:stem`, `p:stem stem`, `t:abc`) and its running count in the current call.
 * `signedWeight` is the hash's sign times the family weight, the first product of
 * `sign * familyWeight * tf`, so the vector gets the same rounded value.
 */
class Feature {
  /** The call that last touched this feature, and the weight it summed in that call. */
  epoch = 0;
  count = 0;
  readonly signedWeight: number;

  constructor(
    /** hash32 of the feature string. */
    readonly hash: number,
    familyWeight: number,
    readonly trigram: boolean,
  ) {
    this.signedWeight = (hash & 0x80000000 ? -1 : 1) * familyWeight;
  }
}

class StemFeature extends Feature {
  constructor(
    readonly text: string,
    /** Distinct per stem in the cache: pairs are keyed by two ids. */
    readonly id: number,
  ) {
    super(hash32(`w:${text}`), STEM_WEIGHT, false);
  }
}

interface WordFeatures {
  readonly stem: StemFeature;
  /** The `t:` features of `<word>`, in order, repeats included. */
  readonly trigrams: readonly Feature[];
  readonly trigramWeight: number;
}

/**
 * Features of words already seen, so the stemmer, the trigrams and their hashes run once per word
 * rather than once per occurrence: a corpus repeats its vocabulary. Cleared wholesale once it
 * holds this many words, stems and trigrams together (about 10 MB of heap), and only between
 * calls, so one call never meets two objects for one feature.
 */
const MAX_CACHED_ENTRIES = 100_000;
/**
 * Stem ids stay below this, so the pair key `previousId * MAX_STEM_IDS + id` is an exact integer
 * (< 2^52) naming one pair: a call starts with at most MAX_CACHED_ENTRIES stems and adds one per
 * new stem of its text, and no text has 2^26 distinct stems (a V8 Map, which held all of a text's
 * features in version '1' as first written, stops at 2^24). Beyond it embedLocally throws rather
 * than mix pairs up.
 */
const MAX_STEM_IDS = 2 ** 26;
const words = new Map<string, WordFeatures>();
const stems = new Map<string, StemFeature>();
/** By the trigram's three UTF-16 code units, c0 * 2^32 + c1 * 2^16 + c2. */
const trigramFeatures = new Map<number, Feature>();
let cachedEntries = 0;
let currentEpoch = 0;

function clearFeatureCache() {
  words.clear();
  stems.clear();
  trigramFeatures.clear();
  cachedEntries = 0;
}

function wordFeatures(word: string): WordFeatures {
  let w = words.get(word);
  if (w !== undefined) return w;
  const stemText = NUMBER.test(word) ? word : stemmer(word);
  let stem = stems.get(stemText);
  if (stem === undefined) {
    if (stems.size >= MAX_STEM_IDS) throw new RangeError('too many distinct words to embed');
    stem = new StemFeature(stemText, stems.size);
    stems.set(stemText, stem);
    cachedEntries++;
  }
  // Trigrams of `<word>` ('<' is 60, '>' is 62), by code unit like String.slice.
  const trigrams: Feature[] = [];
  const last = word.length + 1;
  const unit = (i: number) => (i === 0 ? 60 : i === last ? 62 : word.charCodeAt(i - 1));
  for (let i = 0; i < word.length; i++) {
    const c0 = unit(i);
    const c1 = unit(i + 1);
    const c2 = unit(i + 2);
    const key = c0 * 0x100000000 + c1 * 0x10000 + c2;
    let t = trigramFeatures.get(key);
    if (t === undefined) {
      t = new Feature(finishHash(fnv(fnv(fnv(TRIGRAM_PREFIX_STATE, c0), c1), c2)), TRIGRAM_WEIGHT, true);
      trigramFeatures.set(key, t);
      cachedEntries++;
    }
    trigrams.push(t);
  }
  // `<word>` has as many trigrams as the word has code units.
  w = { stem, trigrams, trigramWeight: 1 / word.length };
  words.set(word, w);
  cachedEntries++;
  return w;
}

const NUMBER = /^\p{N}+$/u;

/** Folded words: NFKD without marks, lower case, letters and digits, no stop words or single letters. */
export function tokenize(text: string): string[] {
  return tokenizePlain(text) ?? tokenizeUnicode(text);
}

/**
 * Punctuation common in contracts and PDFs (no-break space, § ¶ ° £ €, guillemets, dashes, curly
 * quotes, bullet, ellipsis): none is a letter, digit or mark, none decomposes (NFKD) into one, and
 * lower case leaves each alone, so between ASCII they only separate words.
 */
const PLAIN_SEPARATORS = new Set(
  [0xa0, 0xa3, 0xa7, 0xab, 0xb0, 0xb6, 0xbb, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2026, 0x20ac],
);

/**
 * The same words as tokenizeUnicode for text of ASCII and PLAIN_SEPARATORS, without the Unicode
 * passes: NFKD changes no ASCII character, ASCII has no marks, and its letters and digits are
 * [a-z0-9] once lower-cased. Undefined as soon as another character appears.
 */
function tokenizePlain(text: string): string[] | undefined {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if (c >= 0x80 && !PLAIN_SEPARATORS.has(c)) return undefined;
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90)) {
      if (start < 0) start = i;
      continue;
    }
    if (start < 0) continue;
    // A single letter is dropped, a single digit kept.
    if (i - start > 1 || text.charCodeAt(start) <= 57) {
      const word = text.slice(start, i).toLowerCase();
      if (!STOP_WORDS.has(word)) out.push(word);
    }
    start = -1;
  }
  return out;
}

function tokenizeUnicode(text: string): string[] {
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
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  const norm = Math.sqrt(sum);
  if (!(norm > 0) || !Number.isFinite(norm)) throw new Error('cannot normalise a zero or non-finite vector');
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i] / norm;
  return out;
}

/** FNV-1a over UTF-16 code units with murmur3's finaliser for avalanche; stable across runtimes. */
function hash32(s: string): number {
  return finishHash(fnvText(FNV_OFFSET, s));
}

const FNV_OFFSET = 0x811c9dc5;

function fnv(h: number, codeUnit: number): number {
  return Math.imul(h ^ codeUnit, 0x01000193);
}

function fnvText(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

function finishHash(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV state after `t:` and after `p:`: a feature's hash continues from its family prefix. */
const TRIGRAM_PREFIX_STATE = fnvText(FNV_OFFSET, 't:');
const PAIR_PREFIX_STATE = fnvText(FNV_OFFSET, 'p:');

/** hash32(`p:${previous} ${stem}`) without building the string. */
function pairHash(previous: string, stem: string): number {
  return finishHash(fnvText(fnv(fnvText(PAIR_PREFIX_STATE, previous), 32), stem));
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
