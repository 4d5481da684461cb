import { describe, expect, it } from 'vitest';
import { LocalHashEmbedder, tokenize } from './embedder';

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
