/**
 * A tiny WGSL preprocessor for the compile-time variants that override constants cannot express
 * (storage element types, `enable` lines): `#if NAME`, `#if !NAME`, `#else`, `#endif`, nestable.
 * Shapes never go here: they travel in the uniform `Params` struct.
 */
export function preprocess(code: string, defines: Record<string, boolean> = {}): string {
  const out: string[] = [];
  const stack: { active: boolean; parentActive: boolean; taken: boolean }[] = [];
  let active = true;
  const lines = code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const t = line.trim();
    if (t.startsWith('#if ')) {
      const expr = t.slice(4).trim();
      const neg = expr.startsWith('!');
      const name = neg ? expr.slice(1).trim() : expr;
      const value = Boolean(defines[name]) !== neg;
      stack.push({ active, parentActive: active, taken: value });
      active = active && value;
      out.push('');
    } else if (t === '#else') {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`WGSL preprocess: #else without #if at line ${i + 1}`);
      active = top.parentActive && !top.taken;
      out.push('');
    } else if (t === '#endif') {
      const top = stack.pop();
      if (!top) throw new Error(`WGSL preprocess: #endif without #if at line ${i + 1}`);
      active = top.parentActive;
      out.push('');
    } else {
      out.push(active ? line : '');
    }
  }
  if (stack.length) throw new Error('WGSL preprocess: unterminated #if');
  return out.join('\n');
}
