/**
 * `npm run eval:retrieval` — retrieval quality on a generated corpus with known answers (issue 4).
 *
 * 60 generated supplier contracts, 10 sections each (payment, termination, governing law,
 * liability, warranty, delivery, confidentiality, insurance, price, purchase order): one
 * distinctive fact per section among shared legal boilerplate, ~600 chunks through the real
 * chunker, embedder and index on PGlite (HNSW). Each fact gets two questions:
 * - paraphrase: a natural question that rewords the fact (shares some stems, adds other words);
 * - keyword: the terms or identifier a user would type.
 * Prints recall@5 for keyword, vector and hybrid per question type, and checks that hybrid is not
 * worse than the better of the other two on either type (exit code 1 if it is).
 */
import { ManualClock } from '../shared/clock';
import { LocalHashEmbedder } from '../shared/index/embedder';
import { buildIndexTables } from '../shared/index/schema';
import { indexParsedDocument } from '../shared/index/store';
import { catchUpVectors } from '../shared/index/vector-catch-up';
import { createIndexSchema, openIndexTestDb } from '../shared/index/testing';
import type { ParsedDocument, ParsedElement } from '../shared/parse/types';
import type { SearchMode } from '../shared/retrieval/search';
import { searchChunks } from '../shared/retrieval/search';

const COMPANIES = 60;
const K = 5;

/** mulberry32: a seeded PRNG so every run evaluates the same corpus. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(20260301);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

const SYLLABLES = ['vel', 'mor', 'qui', 'dar', 'kos', 'trel', 'bra', 'nik', 'sol', 'vex', 'tar', 'lin', 'gor', 'ami', 'zen', 'ful', 'ca', 'ro', 'dex', 'pha', 'lum', 'ori', 'sta', 'bel'];
const INDUSTRIES = ['Logistics', 'Foods', 'Pharma', 'Energy', 'Textiles', 'Robotics', 'Media', 'Metals', 'Chemicals', 'Packaging'];
const PLACES = ['Hamburg', 'Rotterdam', 'Antwerp', 'Gdansk', 'Lyon', 'Porto', 'Bilbao', 'Turin', 'Graz', 'Aarhus', 'Tampere', 'Brno', 'Cork', 'Utrecht', 'Malmo', 'Ghent', 'Leipzig', 'Bergen', 'Krakow', 'Seville'];
const PRODUCTS = ['refrigeration unit', 'pallet jack', 'solar inverter', 'forklift battery', 'conveyor belt', 'barcode scanner', 'cooling fan', 'steel rack', 'label printer', 'water pump', 'air compressor', 'safety helmet', 'hydraulic valve', 'shipping crate', 'loading ramp'];
const MONTHS = ['January', 'March', 'June', 'September', 'December'];

const BOILERPLATE = [
  'Notices under this agreement must be given in writing and delivered by hand or registered mail.',
  'The parties shall perform their obligations in good faith and with the care of a prudent merchant.',
  'No amendment of this agreement is valid unless it is made in writing and signed by both parties.',
  'Neither party may assign its rights under this agreement without the prior consent of the other party.',
  'Any failure to enforce a provision does not waive the right to enforce it later.',
  'If a provision is held invalid, the remaining provisions stay in full force and effect.',
  'Each party bears its own costs of negotiating and executing this agreement.',
  'The headings in this agreement are for convenience only and do not affect its interpretation.',
  'This agreement may be executed in counterparts, each of which is deemed an original.',
  'Force majeure events suspend the affected obligations for as long as the event continues.',
  'The supplier shall comply with all applicable export control and sanctions regulations.',
  'Records relating to this agreement shall be retained for the period required by law.',
  'Personal data is processed only in accordance with the data processing addendum.',
  'The customer may audit compliance once per calendar year on reasonable prior notice.',
  'All amounts are stated exclusive of value added tax unless expressly stated otherwise.',
  'Subcontractors may be engaged only if they are bound by equivalent written obligations.',
  'The supplier shall appoint a contact person who is responsible for day to day coordination.',
  'Disputes shall first be escalated to senior management before any formal proceedings.',
  'Intellectual property created before this agreement remains with the party that created it.',
  'Each party warrants that it has full power and authority to enter into this agreement.',
  'Time is of the essence for all delivery dates confirmed in writing.',
  'The customer shall provide reasonable access to its premises where the services require it.',
  'Invoices must state the order reference and the cost centre of the customer.',
  'The supplier shall keep adequate stock to meet the forecast volumes shared each quarter.',
];

interface Fact {
  topic: string;
  sentence: string;
  paraphrase: string;
  keyword: string;
}

function factsFor(company: string): Fact[] {
  const n = int(10, 120);
  const place = pick(PLACES);
  const place2 = pick(PLACES);
  const amount = `${int(1, 40) * 250},000`;
  const insured = `${int(2, 20)},000,000`;
  const months = int(6, 60);
  const years = int(2, 10);
  const product = pick(PRODUCTS);
  const product2 = pick(PRODUCTS);
  const price = `${int(20, 4000)}.${int(10, 99)}`;
  const po = `PO-${int(10000, 99999)}`;
  const qty = int(10, 900);
  const dock = int(1, 40);
  return [
    {
      topic: 'payment',
      sentence: `${company} shall pay each undisputed invoice within ${n} days of receipt by bank transfer.`,
      paraphrase: pick([`How many days does ${company} have to pay an invoice once it has been received?`, `When are invoices to ${company} due for payment?`]),
      keyword: `${company} invoice ${n} days`,
    },
    {
      topic: 'termination',
      sentence: `Either party may terminate the agreement with ${company} for convenience by giving ${int(30, 180)} days written notice.`,
      paraphrase: pick([`How much notice is needed to terminate the ${company} contract early?`, `Can the agreement with ${company} be terminated for convenience, and with what notice?`]),
      keyword: `${company} terminate convenience notice`,
    },
    {
      topic: 'law',
      sentence: `The agreement with ${company} is governed by the laws applicable in ${place}, whose courts have exclusive jurisdiction.`,
      paraphrase: pick([`Which law governs the contract with ${company}?`, `Where do the courts have jurisdiction over disputes with ${company}?`]),
      keyword: `${company} governing law ${place}`,
    },
    {
      topic: 'liability',
      sentence: `The total liability of ${company} under this agreement is capped at ${amount} EUR per contract year.`,
      paraphrase: pick([`What is the maximum liability of ${company} in a contract year?`, `Is there a cap on what ${company} is liable for?`]),
      keyword: `${company} liability cap ${amount}`,
    },
    {
      topic: 'warranty',
      sentence: `${company} warrants the delivered goods against defects in material and workmanship for ${months} months from delivery.`,
      paraphrase: pick([`For how many months are goods delivered by ${company} under warranty?`, `How long does the ${company} warranty against defective goods last?`]),
      keyword: `${company} warranty ${months} months`,
    },
    {
      topic: 'delivery',
      sentence: `${company} delivers all shipments to the ${place2} warehouse, dock ${dock}, on working days between 6 and 14 hours.`,
      paraphrase: pick([`Where must ${company} deliver its shipments?`, `To which warehouse and dock are deliveries from ${company} sent?`]),
      keyword: `${company} ${place2} warehouse dock ${dock}`,
    },
    {
      topic: 'confidentiality',
      sentence: `${company} must keep confidential information secret for ${years} years after the agreement ends.`,
      paraphrase: pick([`How many years does the confidentiality duty of ${company} last after the end of the contract?`, `How long must ${company} keep information confidential?`]),
      keyword: `${company} confidential ${years} years`,
    },
    {
      topic: 'insurance',
      sentence: `${company} maintains professional liability insurance of at least ${insured} EUR with a reputable insurer.`,
      paraphrase: pick([`What insurance coverage does ${company} have to maintain?`, `How much professional liability insurance must ${company} carry?`]),
      keyword: `${company} insurance ${insured}`,
    },
    {
      topic: 'price',
      sentence: `The unit price of each ${product} supplied by ${company} is ${price} EUR, fixed until ${pick(MONTHS)} ${int(2026, 2029)}.`,
      paraphrase: pick([`How much does ${company} charge per ${product}?`, `What is the price of one ${product} from ${company}?`]),
      keyword: `${product} unit price ${company}`,
    },
    {
      topic: 'order',
      sentence: `Purchase order ${po} issued to ${company} covers ${qty} units of ${product2}.`,
      paraphrase: pick([`Which purchase order did ${company} receive for ${product2} units?`, `How many ${product2} units were ordered from ${company}?`]),
      keyword: po,
    },
  ];
}

function companyNames(count: number): string[] {
  const names = new Set<string>();
  while (names.size < count) {
    const stem = pick(SYLLABLES) + pick(SYLLABLES) + pick(SYLLABLES);
    names.add(`${stem[0].toUpperCase()}${stem.slice(1)} ${pick(INDUSTRIES)}`);
  }
  return [...names];
}

interface Question {
  type: 'paraphrase' | 'keyword';
  text: string;
  docId: string;
  /** Offsets of the fact sentence in the document: the answer is the chunk that contains them. */
  start: number;
  end: number;
}

function buildContract(index: number, company: string): { doc: ParsedDocument; questions: Question[] } {
  const docId = `doc_eval_${String(index).padStart(3, '0')}`;
  let text = '';
  const elements: ParsedElement[] = [];
  const questions: Question[] = [];
  const append = (type: ParsedElement['type'], body: string, section: string) => {
    if (text) text += '\n\n';
    const start = text.length;
    text += body;
    elements.push({ type, page: 1 + Math.floor(elements.length / 6), start_char: start, end_char: text.length, text: body, section_title: section, ...(type === 'heading' ? { level: 1 } : {}) });
    return start;
  };
  append('heading', `Supply agreement with ${company}`, `Supply agreement with ${company}`);
  factsFor(company).forEach((fact, i) => {
    const heading = `${i + 1}. ${fact.topic[0].toUpperCase()}${fact.topic.slice(1)}`;
    append('heading', heading, heading);
    const filler = Array.from({ length: int(4, 6) }, () => pick(BOILERPLATE));
    const at = int(0, filler.length);
    const sentences = [...filler.slice(0, at), fact.sentence, ...filler.slice(at)];
    const start = append('paragraph', sentences.join(' '), heading);
    const factStart = start + sentences.slice(0, at).reduce((n, s) => n + s.length + 1, 0);
    for (const type of ['paraphrase', 'keyword'] as const) {
      questions.push({ type, text: type === 'paraphrase' ? fact.paraphrase : fact.keyword, docId, start: factStart, end: factStart + fact.sentence.length });
    }
  });
  const doc: ParsedDocument = {
    doc_id: docId,
    source_sha256: docId.padEnd(64, '0'),
    mime_type: 'application/pdf',
    parser: 'eval',
    parser_version: '1',
    full_text: text,
    pages: [{ page: 1, start_char: 0, end_char: text.length }],
    elements,
    warnings: [],
    metadata: {},
  };
  return { doc, questions };
}

async function main() {
  const started = performance.now();
  const t = await openIndexTestDb('pglite', '');
  const schema = 'tenant_eval';
  await createIndexSchema(t.db, schema);
  const tables = buildIndexTables(schema);
  const embedder = new LocalHashEmbedder();
  const clock = new ManualClock();

  const questions: Question[] = [];
  let chunkCount = 0;
  const names = companyNames(COMPANIES);
  for (const [i, company] of names.entries()) {
    const { doc, questions: qs } = buildContract(i, company);
    const { chunkCount: n } = await indexParsedDocument(
      { db: t.db, tables, embedder, clock },
      {
        doc,
        lineage: { batchId: 'bat_eval', fileId: `file_${i}`, originalFilename: `${company}.pdf`, mimeType: 'application/pdf', sourceSha256: doc.source_sha256, ingestedAt: clock.now() },
      },
    );
    chunkCount += n;
    questions.push(...qs);
    process.stdout.write(`\rindexing contracts ${i + 1}/${names.length} (${chunkCount} chunks)`);
  }
  process.stdout.write('\n');
  // Steady state: every chunk in the HNSW graph, as the pipeline's idle catch-up leaves it.
  while (await catchUpVectors(t.db, tables, t.capabilities, 500)) {}

  const modes: SearchMode[] = ['keyword', 'vector', 'hybrid'];
  const hits: Record<string, Record<SearchMode, number>> = {
    paraphrase: { keyword: 0, vector: 0, hybrid: 0 },
    keyword: { keyword: 0, vector: 0, hybrid: 0 },
  };
  const totals = { paraphrase: 0, keyword: 0 };
  for (const [i, q] of questions.entries()) {
    totals[q.type] += 1;
    for (const mode of modes) {
      const { chunks } = await searchChunks(t.db, tables, t.capabilities, { queryText: q.text, topK: K, mode, embedder });
      if (chunks.some((c) => c.doc_id === q.docId && c.start_char <= q.start && c.end_char >= q.end)) hits[q.type][mode] += 1;
    }
    if (i % 50 === 49 || i === questions.length - 1) process.stdout.write(`\rasking questions ${i + 1}/${questions.length}`);
  }
  process.stdout.write('\n');
  await t.close();

  console.log(`\nrecall@${K} on ${chunkCount} chunks (${COMPANIES} contracts), ${questions.length} questions, embedder ${embedder.model}@${embedder.version}`);
  console.log(`${'question type'.padEnd(14)} ${'n'.padStart(4)} ${modes.map((m) => m.padStart(8)).join(' ')}`);
  let ok = true;
  for (const type of ['paraphrase', 'keyword'] as const) {
    const recall = (m: SearchMode) => hits[type][m] / totals[type];
    console.log(`${type.padEnd(14)} ${String(totals[type]).padStart(4)} ${modes.map((m) => recall(m).toFixed(3).padStart(8)).join(' ')}`);
    const best = Math.max(recall('keyword'), recall('vector'));
    if (recall('hybrid') < best) ok = false;
  }
  for (const type of ['paraphrase', 'keyword'] as const) {
    const r = (m: SearchMode) => hits[type][m] / totals[type];
    const best = Math.max(r('keyword'), r('vector'));
    console.log(`goal ${type}: hybrid ${r('hybrid').toFixed(3)} >= max(keyword, vector) ${best.toFixed(3)}: ${r('hybrid') >= best ? 'MET' : 'NOT MET'}`);
  }
  console.log(`took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (!ok) process.exitCode = 1;
}

await main();
