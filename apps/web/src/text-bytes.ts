/**
 * Bytes that must be text (a documents file, a model's JSON files) checked before they are parsed, so that
 * a binary file gets one sentence naming it instead of a parser error that echoes its raw bytes.
 *
 * @example
 * const text = decodeText(new Uint8Array(await file.arrayBuffer()), file.name);
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The UTF-8 text of `bytes`; throws one sentence naming `name` when they are not valid UTF-8 or hold NUL bytes. */
export function decodeText(bytes: Uint8Array, name: string): string {
  // NUL is valid UTF-8 but never appears in text files; binaries are full of it.
  if (bytes.includes(0)) throw new Error(`${name} is not a text file: it contains NUL bytes.`);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Error(`${name} is not a text file: it is not valid UTF-8.`);
  }
}

/** Parses JSON text; a syntax error becomes one sentence naming `name` (the parser's message quotes the input, so it is left out). */
export function parseJsonText(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = /at position (\d+)/.exec((e as Error).message);
    throw new Error(`${name} is not valid JSON${at ? ` (error at character ${Number(at[1]) + 1})` : ''}.`);
  }
}
