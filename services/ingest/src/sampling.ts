/**
 * The reference's file sampling (REFERENCE.md, run.py): of a video with `fps` frames per second it
 * takes frames 1, 1+k, 1+2k, … with k = round(5·fps/25) — about 5 frames per second.
 * Python's round() rounds halves to even (round(2.5) = 2), unlike Math.round: reproduce it exactly.
 */
export function pythonRound(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function fileSamplingStep(fps: number): number {
  if (!Number.isFinite(fps) || fps <= 0) throw new Error(`cannot sample a video with frame rate ${fps}`);
  return Math.max(1, pythonRound((5 * fps) / 25));
}
