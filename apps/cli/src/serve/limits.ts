/**
 * The service's limits, each set by one `llara serve` flag; the flag is named in the error a request
 * over the limit gets. Defaults follow text-embeddings-inference where it has the same knob.
 */
export interface ServeLimits {
  /** Padded tokens per forward pass (`--max-batch-tokens`). */
  maxBatchTokens: number;
  /** Sequences per forward pass (`--max-batch-requests`); 1 turns batching off. */
  maxBatchRequests: number;
  /** Requests admitted at once, running or queued (`--max-concurrent-requests`); more get 429. */
  maxConcurrentRequests: number;
  /** Inputs in one /v1/embeddings request (`--max-inputs`). */
  maxInputs: number;
  /** Characters in one input (`--max-input-chars`). */
  maxInputChars: number;
  /** Tokens of one sequence, prompt included (`--max-len`, as `llara embed`). */
  maxLen: number;
  /** Bytes of one request body (`--max-body-bytes`). */
  maxBodyBytes: number;
  /** Largest k a search may ask for (`--max-k`). */
  maxK: number;
  /** Milliseconds a request may wait and run before it is answered 503 (`--request-timeout`). */
  requestTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServeLimits = {
  maxBatchTokens: 16384,
  maxBatchRequests: 32,
  maxConcurrentRequests: 512,
  maxInputs: 32,
  maxInputChars: 20000,
  maxLen: 256,
  maxBodyBytes: 2 * 1024 * 1024,
  maxK: 1000,
  requestTimeoutMs: 30000,
};

/** The flag that sets each limit (error messages and `--help` name it). */
export const LIMIT_FLAGS: Record<keyof ServeLimits, string> = {
  maxBatchTokens: '--max-batch-tokens',
  maxBatchRequests: '--max-batch-requests',
  maxConcurrentRequests: '--max-concurrent-requests',
  maxInputs: '--max-inputs',
  maxInputChars: '--max-input-chars',
  maxLen: '--max-len',
  maxBodyBytes: '--max-body-bytes',
  maxK: '--max-k',
  requestTimeoutMs: '--request-timeout',
};
