import { stemmer } from 'stemmer';
import { describe, expect, it } from 'vitest';
import { embedLocally, LocalHashEmbedder, tokenize } from './embedder';
import { createRandom } from '../../tests/fixtures/build';

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * b[i], 0);

describe('LocalHashEmbedder', () => {
  const embedder = new LocalHashEmbedder();

  it('gives deterministic unit vectors of 384 dimensions', async () => {
    const [a, b] = await embedder.embed(['The supplier shall deliver the goods.', 'The supplier shall deliver the goods.']);
    expect(a).toHaveLength(384);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(cosine(a, a)).toBeCloseTo(1, 5);
    expect({ model: embedder.model, version: embedder.version, dimensions: embedder.dimensions }).toEqual({
      model: 'frostbyte-local-hash',
      version: '1',
      dimensions: 384,
    });
  });

  it('ranks a paraphrase that shares word stems above unrelated text', async () => {
    const [fact, paraphrase, unrelated, other] = await embedder.embed([
      'Northwind Logistics may terminate the agreement with ninety days written notice.',
      'How much notice does Northwind need to give to end the contract by termination?',
      'The warehouse in Rotterdam stores frozen fish for Baltic Foods.',
      'Payment of each invoice is due within forty-five days of receipt.',
    ]);
    expect(cosine(fact, paraphrase)).toBeGreaterThan(cosine(unrelated, paraphrase) + 0.1);
    expect(cosine(fact, paraphrase)).toBeGreaterThan(cosine(other, paraphrase) + 0.1);
  });

  it('matches morphological variants the stemmer keeps apart through character trigrams', async () => {
    const [payment, pay, weather] = await embedder.embed(['payment', 'pay', 'weather']);
    expect(cosine(payment, pay)).toBeGreaterThan(cosine(payment, weather) + 0.2);
  });

  it('never returns a zero vector, even for text without words', async () => {
    for (const v of await embedder.embed(['', '???', 'the of and'])) {
      expect(cosine(v, v)).toBeCloseTo(1, 5);
    }
  });

  it('folds case and accents and drops stop words and single letters', () => {
    expect(tokenize("The Café's RÉSUMÉ is in Zürich, a 5-star place")).toEqual(['cafe', 'resume', 'zurich', '5', 'star', 'place']);
  });
});

/**
 * Version '1' of the local embedder as first written, one string-keyed Map per text. Stored
 * vectors and the retrieval evaluation were built by it, so embedLocally must give the same bits.
 */
function referenceEmbed(text: string, dimensions: number): Float32Array {
  const features = new Map<string, number>();
  const add = (feature: string, weight: number) => features.set(feature, (features.get(feature) ?? 0) + weight);
  let previous: string | undefined;
  for (const word of referenceTokenize(text)) {
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
    const familyWeight = family === 119 ? 1.0 : family === 112 ? 0.6 : 1.0;
    const tf = family === 116 ? Math.sqrt(count) : 1 + Math.log(count);
    const h = referenceHash32(feature);
    const sign = h & 0x80000000 ? -1 : 1;
    vector[(h & 0x7fffffff) % dimensions] += sign * familyWeight * tf;
  }
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum);
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i] / norm;
  return out;
}

function referenceTokenize(text: string): string[] {
  const folded = text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
  const out: string[] = [];
  for (const match of folded.matchAll(/[\p{L}\p{N}]+/gu)) {
    const word = match[0];
    if (word.length === 1 && !/\p{N}/u.test(word)) continue;
    if (REFERENCE_STOP_WORDS.has(word)) continue;
    out.push(word);
  }
  return out;
}

function referenceHash32(s: string): number {
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

const REFERENCE_STOP_WORDS = new Set(
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


/** Contract prose, repeated words, numbers, stop words, and Unicode that folding, NFKD and the stemmer must all get right. */
function variedCorpus(count: number, seed: number): string[] {
  const random = createRandom(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const english = (
    'supplier customer shall deliver terminate termination terminated payment payments pay paid invoice invoicing ' +
    'renewal renew renewed agreement agreements confidential confidentiality liability liable warranty warranties ' +
    'notice notices days months written material breach insurance generalization relational hopefulness running ' +
    'ran runs easily fairly sky skies dying lying tying agreed feed bled sing singing conditional rational'
  ).split(' ');
  const unicode = [
    'Café', 'RÉSUMÉ', 'Zürich', 'naïve', 'e\u0301te\u0301', 'Straße', 'STRASSE', 'İstanbul', 'ﬁnance', 'ﬀ', 'Ⅻ', '１２３', 'x²', '½',
    '٣٤', '۵', 'ΟΔΟΣ', 'ΟΔΟΣ.Β', 'σοφός', 'Москва', 'договор', 'שלום', '東京都', '契約書', 'ｶﾀｶﾅ', '한국어', '😀', '👍🏽',
    'a\ud800b', '\udfffz', 'Å', 'Ａｂｃ', 'ǅ', 'ﬆ', '℃', '™', '…', '‐', '\u200b', '\u00ad', '\u0301', 'ß', 'ŉ', 'Ǆemal',
  ];
  const plain = ['\u00a0', '£', '§', '«', '°', '¶', '»', '‐', '‑', '‒', '–', '—', '‘', '’', '“', '”', '•', '…', '€'];
  const stop = [...REFERENCE_STOP_WORDS];
  const separators = [' ', ' ', ' ', '  ', '\n', '\t', ', ', '. ', '-', '/', "'", '(', ')', ': ', '; '];
  // Half the texts are ASCII and `plain` punctuation only, which embedLocally tokenizes without NFKD.
  let withUnicode = false;
  const word = (): string => {
    const r = random();
    if (r < 0.45) return pick(english);
    if (r < 0.55) return pick(stop);
    if (r < 0.65) return String(Math.floor(random() * 10 ** (1 + Math.floor(random() * 6))));
    if (r < 0.72) return withUnicode ? pick(unicode) : pick(plain);
    if (r < 0.8) return pick(plain);
    if (r < 0.85) return 'abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 26)];
    if (r < 0.9) return pick(english).toUpperCase();
    // Made-up words keep the vocabulary growing.
    let w = '';
    const n = 1 + Math.floor(random() * 12);
    for (let i = 0; i < n; i++) w += 'aeioubcdfgklmnprstvyz0123'[Math.floor(random() * 25)];
    return w;
  };
  const texts: string[] = ['', ' ', '\n\t  \n', '???', '...', 'the of and', 'The OF and a I', 'a b c', '7', '’', '— …', 'Σ', 'é'];
  while (texts.length < count) {
    const kind = random();
    withUnicode = random() < 0.5;
    const words = kind < 0.05 ? 0 : kind < 0.3 ? 1 + Math.floor(random() * 8) : 20 + Math.floor(random() * 200);
    let text = '';
    let repeat: string | undefined;
    for (let i = 0; i < words; i++) {
      // Runs of one word: term frequencies above one, and the same pair again and again.
      if (repeat !== undefined && random() < 0.5) text += repeat;
      else text += repeat = word();
      text += pick(separators);
    }
    texts.push(random() < 0.5 ? text : text.trim());
  }
  return texts;
}

const bitsOf = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));

describe('embedLocally', () => {
  const corpus = variedCorpus(3000, 11);

  it('tokenizes every text of a varied corpus exactly as the reference does', () => {
    const differing = corpus.filter((t) => JSON.stringify(tokenize(t)) !== JSON.stringify(referenceTokenize(t)));
    expect(differing).toEqual([]);
  });

  it('gives the reference bits for every text, whatever the texts before it', () => {
    // Twice over, the second time backwards, and in two widths: the word cache is cold, then warm
    // with the other texts' words.
    for (const dimensions of [384, 7]) {
      for (const texts of [corpus, [...corpus].reverse()]) {
        const differing = texts.filter((t) => bitsOf(embedLocally(t, dimensions)).join() !== bitsOf(referenceEmbed(t, dimensions)).join());
        expect(differing, `${dimensions} dimensions`).toEqual([]);
      }
    }
  });

  it('gives the reference bits across cache clears (a vocabulary larger than the cache)', () => {
    // Each text brings 40 new stems ("<base>ed") and repeats the previous text's bases as
    // "<base>ed" and as the new word "<base>ing", which has the same stem: the cache fills and is
    // cleared about every 800 texts, and the text after a clear must find one feature per stem.
    const random = createRandom(5);
    const newBases = () =>
      Array.from({ length: 40 }, () => {
        let b = '';
        for (let i = 0; i < 4; i++) b += 'bdfgklmnprstvz'[Math.floor(random() * 14)] + 'aeiou'[Math.floor(random() * 5)];
        return `${b}t`;
      });
    let previous = newBases();
    expect(previous.map((b) => stemmer(`${b}ing`))).toEqual(previous.map((b) => stemmer(`${b}ed`)));
    const texts: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const bases = newBases();
      texts.push([...bases.map((b) => `${b}ed`), ...previous.flatMap((b) => [`${b}ed`, `${b}ing`])].join(' '));
      previous = bases;
    }
    const differing = texts.filter((t) => bitsOf(embedLocally(t, 384)).join() !== bitsOf(referenceEmbed(t, 384)).join());
    expect(differing).toEqual([]);
  });
});
