/**
 * The documents to search: typed lines, a dropped .txt (one document per line) or .jsonl (BEIR corpus
 * lines: `_id`, `title`, `text`), or the first documents of the bundled Cranfield corpus.
 */
import { type BeirDoc, documentText, parseCorpus } from '@llara/index';
import { decodeText } from './text-bytes.ts';

export interface Documents {
  ids: string[];
  texts: string[];
}

/** One document per non-empty line; ids are line numbers ("line 3"). */
export function documentsFromLines(text: string): Documents {
  const ids: string[] = [];
  const texts: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '') return;
    ids.push(`line ${i + 1}`);
    texts.push(t);
  });
  return { ids, texts };
}

export function documentsFromCorpus(docs: readonly BeirDoc[]): Documents {
  return { ids: docs.map((d) => d.id), texts: docs.map(documentText) };
}

/**
 * A .txt or .jsonl file's documents. Binary bytes (invalid UTF-8, NUL bytes), a malformed .jsonl line or an
 * empty file throw one sentence naming the file (and line).
 */
export function documentsFromFile(name: string, bytes: Uint8Array): Documents {
  const jsonl = /\.jsonl$/i.test(name);
  if (!jsonl && !/\.txt$/i.test(name)) throw new Error(`${name} is neither a .txt nor a .jsonl file.`);
  const text = decodeText(bytes, name);
  if (jsonl) {
    const docs = documentsFromCorpus(parseCorpus(text, name));
    if (docs.ids.length === 0) throw new Error(`${name} holds no documents.`);
    return docs;
  }
  const docs = documentsFromLines(text);
  if (docs.ids.length === 0) throw new Error(`${name} holds no documents (it has no non-empty lines).`);
  return docs;
}

/** The first `count` lines of a BEIR corpus served at `url`. */
export async function fetchCorpusSample(url: string, count: number): Promise<Documents> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}.`);
  const text = await res.text();
  // Parse only the lines used: the whole corpus is 1,400 documents.
  const lines = text.split('\n');
  const head = lines.slice(0, count).join('\n');
  return documentsFromCorpus(parseCorpus(head, url));
}

/** Texts as textarea lines (a document's own line breaks would split it). */
export function asLines(docs: Documents): string {
  return docs.texts.map((t) => t.replace(/\s+/g, ' ').trim()).join('\n');
}
