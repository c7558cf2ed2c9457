/**
 * The plumbing both of the page's workers share: a typed `postMessage` endpoint for a worker's global
 * scope (the training worker streams commands and events over it), and on top of it typed calls with
 * progress, cancellation and results (the model worker's requests). A call's AbortSignal posts a cancel
 * that aborts the handler's own signal in the worker, which stops at its next check; the caller's promise
 * then rejects with the signal's reason (so a cancelled job ends when the worker is free again, and its
 * progress stops at once). Errors cross as their message and name (an AbortError stays
 * one), since an Error with a cause or a stack is not worth cloning.
 *
 * @example
 * // worker.ts
 * serveCalls<Api, Event>({ square: async (n, { progress }) => (progress(0.5), n * n) });
 * // page
 * const calls = new CallClient<Api, Event>(new Worker(url, { type: 'module' }), (event) => show(event));
 * const nine = await calls.call('square', 3, { signal, onProgress: (p) => bar.value = p });
 */

/** One end of a message channel: a worker's global scope, a `Worker`, or a `MessagePort`. */
export interface Endpoint {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
}

/** `In` arrives, `Out` leaves: the typed view of an endpoint. */
export interface TypedEndpoint<In, Out> {
  post(message: Out, transfer?: Transferable[]): void;
  listen(handler: (message: In) => void): void;
}

/** The worker's own global scope (`self`) as a typed endpoint. */
export function workerScope<In, Out>(
  endpoint: Endpoint = self as unknown as Endpoint,
): TypedEndpoint<In, Out> {
  return {
    post: (message, transfer = []) => endpoint.postMessage(message, transfer),
    listen: (handler) => {
      endpoint.onmessage = (e) => handler(e.data as In);
    },
  };
}

/** Any thrown value's first line: what a worker reports in one sentence. */
export function firstLine(e: unknown, fallback: string): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].trim() || fallback;
}

/** Method name -> its parameters, result and progress values (`never` when it reports none). */
export type CallApi = Record<string, { params: unknown; result: unknown; progress: unknown }>;

export type CallRequest<A extends CallApi> =
  | { [K in keyof A & string]: { kind: 'call'; id: number; method: K; params: A[K]['params'] } }[keyof A &
      string]
  | { kind: 'cancel'; id: number };

export type CallReply<A extends CallApi, E> =
  | { kind: 'result'; id: number; value: A[keyof A]['result'] }
  | { kind: 'error'; id: number; message: string; name: string }
  | { kind: 'progress'; id: number; value: A[keyof A]['progress'] }
  /** Not an answer to a call: something that happened in the worker (a lost device). */
  | { kind: 'event'; value: E };

export interface CallContext<P> {
  /** Aborts when the caller cancels; check it between steps. */
  signal: AbortSignal;
  progress(value: P): void;
}

export type CallHandlers<A extends CallApi> = {
  [K in keyof A]: (params: A[K]['params'], context: CallContext<A[K]['progress']>) => Promise<A[K]['result']>;
};

/**
 * Serves calls in a worker, one at a time in arrival order (they share one GPU device and model), while
 * cancels act at once. Returns `emit`, which sends an event to the page.
 */
export function serveCalls<A extends CallApi, E>(
  handlers: CallHandlers<A>,
  endpoint?: Endpoint,
): { emit(event: E): void } {
  const scope = workerScope<CallRequest<A>, CallReply<A, E>>(endpoint);
  const running = new Map<number, AbortController>();
  let queue: Promise<void> = Promise.resolve();
  scope.listen((request) => {
    if (request.kind === 'cancel') {
      running.get(request.id)?.abort(new DOMException('The call was cancelled.', 'AbortError'));
      return;
    }
    const { id, method, params } = request;
    const controller = new AbortController();
    running.set(id, controller);
    const run = async () => {
      try {
        controller.signal.throwIfAborted();
        const handler = handlers[method] as CallHandlers<A>[keyof A];
        const value = await handler(params, {
          signal: controller.signal,
          progress: (p) => scope.post({ kind: 'progress', id, value: p }),
        });
        scope.post({ kind: 'result', id, value });
      } catch (e) {
        const name = e instanceof Error || e instanceof DOMException ? e.name : 'Error';
        scope.post({ kind: 'error', id, message: e instanceof Error ? e.message : String(e), name });
      } finally {
        running.delete(id);
      }
    };
    queue = queue.then(run);
  });
  return { emit: (value) => scope.post({ kind: 'event', value }) };
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: (value: unknown) => void;
}

export interface CallOptions<P> {
  /** Cancels the call: the worker's handler sees its signal abort; the promise rejects with the signal's reason once the handler has returned. */
  signal?: AbortSignal;
  onProgress?: (value: P) => void;
  /** Buffers to move rather than copy. */
  transfer?: Transferable[];
}

/** The page's side of `serveCalls`: typed calls to a worker, and its events. */
export class CallClient<A extends CallApi, E> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private broken: Error | null = null;

  constructor(
    private readonly worker: Endpoint & { onerror?: ((e: ErrorEvent) => void) | null },
    onEvent: (event: E) => void,
    /** The sentence for a worker that failed to start or crashed. */
    failure = 'The worker failed.',
  ) {
    worker.onmessage = (e: MessageEvent<CallReply<A, E>>) => {
      const reply = e.data;
      if (reply.kind === 'event') return onEvent(reply.value);
      const call = this.pending.get(reply.id);
      if (!call) return;
      if (reply.kind === 'progress') return call.onProgress?.(reply.value);
      this.pending.delete(reply.id);
      if (reply.kind === 'result') call.resolve(reply.value);
      else call.reject(Object.assign(new Error(reply.message), { name: reply.name }));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      this.broken = new Error(e.message || failure);
      for (const call of this.pending.values()) call.reject(this.broken);
      this.pending.clear();
    };
  }

  call<K extends keyof A & string>(
    method: K,
    params: A[K]['params'],
    options: CallOptions<A[K]['progress']> = {},
  ): Promise<A[K]['result']> {
    const { signal, onProgress, transfer = [] } = options;
    if (this.broken) return Promise.reject(this.broken);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.nextId++;
    return new Promise<A[K]['result']>((resolve, reject) => {
      const onAbort = () => this.worker.postMessage({ kind: 'cancel', id } satisfies CallRequest<A>);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done =
        <T>(f: (v: T) => void) =>
        (v: T) => {
          signal?.removeEventListener('abort', onAbort);
          if (signal?.aborted) reject(signal.reason);
          else f(v);
        };
      this.pending.set(id, {
        resolve: done(resolve as (v: unknown) => void),
        reject: done(reject),
        onProgress: (value) => {
          if (!signal?.aborted) (onProgress as ((value: unknown) => void) | undefined)?.(value);
        },
      });
      this.worker.postMessage({ kind: 'call', id, method, params } as CallRequest<A>, transfer);
    });
  }
}
