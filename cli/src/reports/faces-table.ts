import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { EMOTION_LABELS, type FaceEmotionEvent } from '@emostream/shared';
import type { RunInput } from '../inputs.js';

/** One row per face of an image: the image, the face, its box (the image's pixels) and its seven probabilities. */
export interface ImageFaceRow {
  file: string;
  face: FaceEmotionEvent;
}

/** Writes the faces of a set of images (a folder) as one CSV: `file,track,x,y,width,height`, then the seven labels. */
export function writeImageFaces(file: string, rows: ImageFaceRow[]): string {
  const lines = [`file,track,x,y,width,height,${EMOTION_LABELS.join(',')}`];
  for (const { file: image, face } of rows) {
    const { x, y, width, height } = face.box;
    const name = /[",\n]/.test(image) ? `"${image.replace(/"/g, '""')}"` : image;
    lines.push(
      [
        name,
        face.trackId,
        ...[x, y, width, height].map((v) => v.toFixed(1)),
        ...EMOTION_LABELS.map((l) => face.probabilities[l].toFixed(6)),
      ].join(','),
    );
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/**
 * The faces of the images of each folder (or of each lone image), one CSV per group: `<group>.faces.csv`,
 * added to the reports of each image of the group that was read. Returns the tables written.
 */
export function writeFaceTables(
  outDir: string,
  inputs: RunInput[],
  summaries: { sampledFrames: number; imageFaces?: ImageFaceRow[]; reports: string[] }[],
): string[] {
  const groups = new Map<string, ImageFaceRow[]>();
  inputs.forEach((input, i) => {
    if (!input.image || !input.group || summaries[i]!.sampledFrames === 0) return;
    groups.set(input.group, [...(groups.get(input.group) ?? []), ...(summaries[i]!.imageFaces ?? [])]);
  });
  const tables = new Map([...groups].map(([group, rows]) => [group, writeImageFaces(path.join(outDir, `${group}.faces.csv`), rows)]));
  inputs.forEach((input, i) => {
    const table = input.group && summaries[i]!.sampledFrames > 0 ? tables.get(input.group) : undefined;
    if (table) summaries[i]!.reports.push(table);
  });
  return [...tables.values()];
}
