/**
 * Where a model's files come from, the same way in Node and in a browser: a folder on disk
 * (`folderFiles` in `@llara/llama/node`), dropped `File`s / Blobs / ArrayBuffers (`memoryFiles`), or a
 * base URL served over HTTP (`urlFiles`). Readers ask for byte ranges so that a large checkpoint is read
 * tensor by tensor and never needs one ArrayBuffer for the whole file.
 *
 * @example
 * const files = memoryFiles({ 'config.json': configFile, 'model.safetensors': weightsFile });
 * const config = parseLlamaConfig(await readJson(files, 'config.json'), 'config.json');
 */
export interface ModelFiles {
  /** Where the files are (a folder path, a URL, or "the selected files"), for messages. */
  readonly location: string;
  /** Whether the file exists. */
  has(name: string): Promise<boolean>;
  /** Size in bytes; throws a one-sentence error naming the file when it does not exist. */
  size(name: string): Promise<number>;
  /** Bytes [start, end) of the file (default: all); the result is a fresh, unshared Uint8Array. */
  read(name: string, start?: number, end?: number): Promise<Uint8Array>;
}

/** `location/name`, for messages. */
export function describeFile(files: ModelFiles, name: string): string {
  return files.location ? `${files.location.replace(/\/+$/, '')}/${name}` : name;
}

export async function readText(files: ModelFiles, name: string): Promise<string> {
  return new TextDecoder('utf-8').decode(await files.read(name));
}

/** Reads and parses a JSON file; a syntax error becomes one sentence naming the file. */
export async function readJson(files: ModelFiles, name: string): Promise<unknown> {
  const text = await readText(files, name);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${describeFile(files, name)} is not valid JSON (${(e as Error).message}).`);
  }
}

function missing(files: ModelFiles, name: string): Error {
  return new Error(`${describeFile(files, name)} does not exist.`);
}

function checkRange(files: ModelFiles, name: string, size: number, start: number, end: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= size))
    throw new Error(
      `${describeFile(files, name)} has ${size} bytes, so bytes [${start}, ${end}) cannot be read from it.`,
    );
}

export type FileSource = Blob | ArrayBuffer | Uint8Array;

/**
 * Files held in memory or as Blobs (a browser `File` is a Blob): names map to contents. A folder picked
 * with `<input webkitdirectory>` gives `File`s whose `name` is the base name; pass `{[f.name]: f}`.
 */
export function memoryFiles(entries: Record<string, FileSource>, location = ''): ModelFiles {
  const map = new Map(Object.entries(entries));
  const get = (name: string): FileSource => {
    const v = map.get(name);
    if (v === undefined) throw missing(files, name);
    return v;
  };
  const sizeOf = (v: FileSource) => (v instanceof Blob ? v.size : v.byteLength);
  const files: ModelFiles = {
    location,
    has: async (name) => map.has(name),
    size: async (name) => sizeOf(get(name)),
    read: async (name, start = 0, end) => {
      const v = get(name);
      const size = sizeOf(v);
      end ??= size;
      checkRange(files, name, size, start, end);
      if (v instanceof Blob) return new Uint8Array(await v.slice(start, end).arrayBuffer());
      const bytes = v instanceof Uint8Array ? v : new Uint8Array(v);
      return bytes.slice(start, end);
    },
  };
  return files;
}

/**
 * Files served under a base URL (a static server, the Hub's `resolve/main/`), read with HTTP Range
 * requests; a server that ignores Range gets the whole file once, kept for later slices.
 */
export function urlFiles(baseUrl: string, fetchFn: typeof fetch = fetch): ModelFiles {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const sizes = new Map<string, number | null>();
  const whole = new Map<string, Uint8Array>();
  const url = (name: string) => new URL(name, base).toString();

  async function probe(name: string): Promise<number | null> {
    if (sizes.has(name)) return sizes.get(name)!;
    let res: Response;
    try {
      res = await fetchFn(url(name), { method: 'HEAD' });
    } catch (e) {
      throw new Error(`${url(name)} could not be fetched (${(e as Error).message}).`);
    }
    let size: number | null = null;
    if (res.ok) {
      const len = res.headers.get('content-length');
      size = len !== null ? Number(len) : (await fetchWhole(name)).byteLength;
    }
    sizes.set(name, size);
    return size;
  }

  async function fetchWhole(name: string): Promise<Uint8Array> {
    const cached = whole.get(name);
    if (cached) return cached;
    const res = await fetchFn(url(name));
    if (!res.ok) throw new Error(`${url(name)} answered HTTP ${res.status}.`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    whole.set(name, bytes);
    sizes.set(name, bytes.byteLength);
    return bytes;
  }

  const files: ModelFiles = {
    location: base.replace(/\/$/, ''),
    has: async (name) => (await probe(name)) !== null,
    size: async (name) => {
      const s = await probe(name);
      if (s === null) throw missing(files, name);
      return s;
    },
    read: async (name, start = 0, end) => {
      const size = await files.size(name);
      end ??= size;
      checkRange(files, name, size, start, end);
      if (start === end) return new Uint8Array(0);
      const cached = whole.get(name);
      if (cached) return cached.slice(start, end);
      const res = await fetchFn(url(name), { headers: { Range: `bytes=${start}-${end - 1}` } });
      if (res.status === 206) {
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (bytes.byteLength !== end - start)
          throw new Error(
            `${url(name)} returned ${bytes.byteLength} bytes for a range of ${end - start} bytes.`,
          );
        return bytes;
      }
      if (!res.ok) throw new Error(`${url(name)} answered HTTP ${res.status}.`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      whole.set(name, bytes);
      return bytes.slice(start, end);
    },
  };
  return files;
}
