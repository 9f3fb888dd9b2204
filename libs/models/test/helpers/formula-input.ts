/**
 * The deterministic inputs of the Keras fixtures, bit-identical to `formula_input` in
 * scripts/make_keras_fixtures.py: v = (i·2654435761 + salt·40503) mod 2³², x = (v >> 8)/2²⁴·255 − 128.
 */
export function formulaInput(length: number, salt: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const v = (Math.imul(i, 2654435761 | 0) + salt * 40503) >>> 0;
    out[i] = ((v >>> 8) / 2 ** 24) * 255 - 128;
  }
  return out;
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** 32-bit FNV-1a, as `fnv1a` in make_keras_fixtures.py. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h >>> 0;
}

/** `formula_weight` of make_keras_fixtures.py: offset + formulaInput(n, fnv1a(name) mod 1000003)/128·scale. */
export function formulaWeight(name: string, length: number, scale: number, offset = 0): Float32Array {
  const x = formulaInput(length, fnv1a(name) % 1000003);
  const s = Math.fround(scale);
  const o = Math.fround(offset);
  return x.map((v) => Math.fround(Math.fround((v / 128) * s) + o));
}
