import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { EmotionEvent } from '@emostream/shared';
import type { TrackObservations } from './csv.js';

/** `<name>.events.jsonl`: the public events of an input, one JSON object a line, as the events topic carried them. */
export function writeEventsJsonl(outDir: string, name: string, events: readonly EmotionEvent[]): string {
  return writeJsonLines(path.join(outDir, `${name}.events.jsonl`), events);
}

/** `<name>.features.jsonl`: per track and sampled frame (by frame), the backbone's features and static probabilities. */
export function writeFeaturesJsonl(outDir: string, name: string, tracks: readonly TrackObservations[]): string {
  const rows = tracks.flatMap((track) =>
    [...track.frames]
      .sort((a, b) => a.frame - b.frame)
      .map((f) => ({ trackId: track.trackId, frame: f.frame, features: [...f.features], staticProbs: f.staticProbs })),
  );
  return writeJsonLines(path.join(outDir, `${name}.features.jsonl`), rows);
}

function writeJsonLines(file: string, rows: readonly unknown[]): string {
  writeFileSync(file, rows.map((row) => JSON.stringify(row)).join('\n') + (rows.length ? '\n' : ''));
  return file;
}
