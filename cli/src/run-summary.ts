import type { RunInput } from './inputs.js';
import type { InputSummary } from './run-types.js';

/** The summary of an input whose run threw (its reports may be missing; the other inputs' are not). */
export function failedInput(input: RunInput, error: Error): InputSummary {
  return {
    input: input.input,
    streamId: input.name,
    live: input.live,
    state: 'failed',
    sampledFrames: 0,
    totalFrames: 0,
    faces: 0,
    detectedFaces: 0,
    droppedFaces: {},
    tracks: 0,
    trackEmotions: [],
    reports: [],
    seconds: 0,
    error: error.message,
  };
}

/**
 * The one-line summary per input: the clip-level emotions, by name (video emotion = the reference's
 * mode of per-window argmax; mean emotion = the track summary's argmax of mean probabilities), faces,
 * tracks, frames, time, frames/s.
 */
export function describe(s: InputSummary): string {
  const stopped = (s.state === 'stopped' ? ' (stopped)' : '') + describeDrops(s);
  if (s.error && s.sampledFrames === 0) return `${s.input}: ${s.error}`;
  const failed = s.error
    ? ` — ${s.sampledFrames > 0 && s.state === 'failed' ? `stopped by an error after ${s.sampledFrames} frames` : 'error'}: ${s.error}`
    : '';
  // A photo is one picture, not a video: its faces and their emotions.
  if (s.imageFaces) {
    const labels = s.imageFaces.map(({ face }) => (s.imageFaces!.length === 1 ? face.label : `#${face.trackId} ${face.label}`));
    const listed = labels.length > 6 ? [...labels.slice(0, 6), `… (${labels.length - 6} more)`] : labels;
    const found = s.faces === 0 ? 'no face found' : `${s.faces} face${s.faces === 1 ? '' : 's'}: ${listed.join(', ')}`;
    return `${s.input}: ${found} (image, ${s.seconds.toFixed(1)} s)${stopped}${failed}`;
  }
  if (s.faces === 0) return `${s.input}: no face found in ${s.sampledFrames} sampled frames (${s.seconds.toFixed(1)} s)${stopped}${failed}`;
  const frames = s.live ? `${s.sampledFrames} sampled frames` : `${s.sampledFrames} sampled of ${s.totalFrames} frames`;
  return `${s.input}: ${clipEmotions(s.trackEmotions)} — ${s.faces} faces, ${s.tracks} track(s), ${frames} in ${s.seconds.toFixed(1)} s (${(s.sampledFrames / s.seconds).toFixed(1)} frames/s${videoShare(s)})${stopped}${failed}`;
}

/** The detected faces that became no event, by reason ("; 3 of 12 detected faces dropped: low_score 2, min_size 1"); none: nothing. */
function describeDrops(s: Pick<InputSummary, 'detectedFaces' | 'droppedFaces'>): string {
  const reasons = Object.entries(s.droppedFaces).filter(([, n]) => n > 0);
  if (reasons.length === 0) return '';
  const total = reasons.reduce((sum, [, n]) => sum + n, 0);
  return `; ${total} of ${s.detectedFaces} detected faces dropped: ${reasons.map(([reason, n]) => `${reason} ${n}`).join(', ')}`;
}

/** "video emotion X, mean emotion Y" for one track; per track ("#1 X, #2 Z; …") for several (at most 6 listed). */
function clipEmotions(tracks: InputSummary['trackEmotions']): string {
  if (tracks.length === 1) return `video emotion ${tracks[0]!.videoEmotion}, mean emotion ${tracks[0]!.meanEmotion ?? '?'}`;
  const listed = tracks.slice(0, 6);
  const more = tracks.length > listed.length ? `, … (${tracks.length - listed.length} more)` : '';
  const list = (pick: (t: InputSummary['trackEmotions'][number]) => string | undefined) =>
    listed.map((t) => `#${t.trackId} ${pick(t) ?? '?'}`).join(', ') + more;
  return `video emotion ${list((t) => t.videoEmotion)}; mean emotion ${list((t) => t.meanEmotion)}`;
}

/** The annotated video's share of the input's time (", annotated video 17 % of it"); none written: nothing. */
function videoShare(s: Pick<InputSummary, 'video'>): string {
  return s.video ? `, annotated video ${Math.round(s.video.share * 100)} % of it` : '';
}
