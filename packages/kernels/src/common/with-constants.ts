const withConstantsMemo = new Map<string, Map<string, string>>();

/**
 * Kernel source with compile-time constants appended (WGSL module-scope declarations may come in any
 * order, so `enable` lines stay first). For sizes that must be const-expressions, such as private and
 * function-scope array lengths, which override constants cannot give; the pipeline cache keys on the
 * resulting text. The same inputs give the same string object, so that lookup hashes each source once
 * instead of on every dispatch (pass module-level source strings for the same reason).
 *
 * ```ts
 * gpu.pipeline({ code: withConstants(SOURCE, { HD: 128, KT: 32 }), label: 'attention-forward' });
 * ```
 */
export function withConstants(code: string, consts: Record<string, number>): string {
  let bySource = withConstantsMemo.get(code);
  if (!bySource) {
    bySource = new Map();
    withConstantsMemo.set(code, bySource);
  }
  const lines = Object.entries(consts).map(([k, v]) => `const ${k}: u32 = ${v}u;`);
  const key = lines.join('\n');
  let out = bySource.get(key);
  if (out === undefined) {
    out = `${code}\n${key}\n`;
    bySource.set(key, out);
  }
  return out;
}
