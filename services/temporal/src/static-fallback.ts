/**
 * For model packs without a temporal model: a track's emotion is the mean of the backbone's static
 * probabilities over the same window a temporal model would see (SlidingWindows, same length, same
 * "first frame fills the window" rule). Until the window has filled, the track's first frame weighs
 * more than the others, exactly as it does for the LSTM.
 */
export function meanProbabilities(window: readonly (readonly number[])[]): number[] {
  const first = window[0];
  if (!first) throw new RangeError('mean of an empty window');
  const sum = new Array<number>(first.length).fill(0);
  for (const row of window) {
    if (row.length !== first.length) throw new RangeError(`rows differ in length (${row.length} ≠ ${first.length})`);
    for (let i = 0; i < row.length; i++) sum[i]! += row[i]!;
  }
  return sum.map((value) => value / window.length);
}
