import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { processSettings } from '@emostream/shared';

/** The demo clip's three photos, shipped in @vladmandic/face-api (demo/sample*.jpg, MIT). */
export function demoPhotos(): string[] {
  const faceApi = path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'));
  return [1, 2, 3].map((n) => path.join(faceApi, 'demo', `sample${n}.jpg`));
}

/**
 * Assembles the demo clip (`npm run demo`, and the 720p clip of the benchmarks): each photo held for
 * `seconds` with a slow zoom, like a camera; 1280×720, 25 fps, H.264. Throws with ffmpeg's message.
 */
export function assembleDemoClip(clip: string, seconds = 2, fps = 25): void {
  const photos = demoPhotos();
  // One frame per photo: zoompan turns each into `seconds` of video.
  const zoomed = photos
    .map(
      (_, i) =>
        `[${i}]scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1,` +
        `zoompan=z='min(zoom+0.003,1.3)':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=${seconds * fps}:s=1280x720:fps=${fps}[v${i}]`,
    )
    .join(';');
  const filter = `${zoomed};${photos.map((_, i) => `[v${i}]`).join('')}concat=n=${photos.length}:v=1:a=0[out]`;
  const made = spawnSync(
    processSettings().ffmpegPath,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      ...photos.flatMap((photo) => ['-i', photo]),
      '-filter_complex',
      filter,
      '-map',
      '[out]',
      '-pix_fmt',
      'yuv420p',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      clip,
    ],
    { encoding: 'utf8' },
  );
  if (made.error || made.status !== 0)
    throw new Error(
      `ffmpeg could not assemble the demo clip (is ffmpeg installed? scripts/install-system-deps.sh installs it): ${made.error?.message ?? made.stderr.trim()}`,
    );
}
