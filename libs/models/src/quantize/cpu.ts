// Which CPU a measurement was taken on. int8 numbers depend on it: without VNNI (AVX2 only),
// onnxruntime's u8s8 kernels add pairs of u8×s8 products in 16 bits, which can saturate, so the same
// int8 model can agree with float32 less on one machine than on another.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const EXTENSIONS = ['avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_tile'];

/** The CPU's vector extensions that decide onnxruntime's and TensorFlow's kernels, from /proc/cpuinfo. */
export function vectorExtensions(): string {
  let flags: Set<string>;
  try {
    const line = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    flags = new Set(line?.[1]?.split(/\s+/) ?? []);
  } catch {
    return 'vector extensions unknown (no /proc/cpuinfo)';
  }
  const found = EXTENSIONS.filter((f) => flags.has(f));
  return found.length > 0 ? found.map((f) => f.toUpperCase()).join(', ') : 'no AVX2';
}

/** e.g. "AMD EPYC (AVX2, FMA, AVX512F, AVX512_VNNI, AVX512_BF16)". */
export function cpuDescription(): string {
  return `${cpus()[0]?.model.trim() ?? 'unknown CPU'} (${vectorExtensions()})`;
}
