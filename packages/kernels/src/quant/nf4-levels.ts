/**
 * QLoRA's 16 NormalFloat (NF4) levels (Dettmers et al. 2023, appendix E; the values bitsandbytes uses),
 * as f32, in code order 0..15. Code 7 is exactly 0 and code 15 exactly 1.
 */
export const NF4_LEVELS: readonly number[] = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
].map(Math.fround);

/** The code of the value 0 in NF4 (what zero blocks and padding store). */
export const NF4_ZERO_CODE = 7;
