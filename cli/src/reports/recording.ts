import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { followTopic, FrameSchema, topicName, topics, type Bus, type BusConsumer } from '@emostream/shared';
import type { RunInput } from '../inputs.js';
import { writeAnnotatedVideo, type Annotations } from './annotated-video.js';

/** A live input's sampled pictures, kept on disk as the frames topic carried them. */
interface Recording {
  dir: string;
  frames: number;
  width: number;
  height: number;
}

/**
 * Live sources cannot be read twice: their sampled pictures are recorded from the frames topic (a
 * reader of its own) for their annotated video, written once the input is over.
 */
export class Recordings {
  private constructor(
    private readonly recordings: Map<string, Recording>,
    private readonly reader: BusConsumer | undefined,
  ) {}

  /** Starts recording each live input (none when no video is wanted). */
  static async start(bus: Bus, prefix: string, inputs: RunInput[], outDir: string, video: boolean): Promise<Recordings> {
    mkdirSync(outDir, { recursive: true });
    const recordings = new Map<string, Recording>(
      inputs
        .filter((i) => i.live && video)
        .map((i) => [i.name, { dir: mkdtempSync(path.join(outDir, `.${i.name}.frames-`)), frames: 0, width: 0, height: 0 }]),
    );
    if (recordings.size === 0) return new Recordings(recordings, undefined);
    const reader = await followTopic(
      bus,
      { groupId: `${prefix}.recorder`, topic: topicName(topics.frames, prefix), fromBeginning: true },
      ({ key, value }) => {
        const recording = recordings.get(key);
        if (!recording) return;
        const frame = fromBinary(FrameSchema, value!);
        if (!frame.ref || frame.ref.endOfStream) return;
        writeFileSync(path.join(recording.dir, `${String(frame.ref.seq).padStart(6, '0')}.jpg`), frame.jpeg);
        recording.frames = Math.max(recording.frames, frame.ref.seq);
        recording.width ||= frame.ref.width;
        recording.height ||= frame.ref.height;
      },
    );
    return new Recordings(recordings, reader);
  }

  /**
   * A live input's annotated video, `frames` long at `fps`, from its recorded pictures; undefined when
   * it was not recorded or nothing was.
   */
  async writeVideo(name: string, annotations: Annotations, frames: number, fps: number, output: string): Promise<string | undefined> {
    const recording = this.recordings.get(name);
    if (!recording) return undefined;
    // The recorder reads the frames topic on its own; give it a moment to catch up with the last frame.
    for (let waited = 0; recording.frames < frames && waited < 10_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    if (recording.frames === 0) return undefined;
    await writeAnnotatedVideo(
      ['-framerate', String(fps), '-start_number', '1', '-i', path.join(recording.dir, '%06d.jpg')],
      output,
      { width: recording.width, height: recording.height, fps },
      annotations,
    );
    return output;
  }

  /** Stops recording and removes the recorded pictures. */
  async close(): Promise<void> {
    await this.reader?.close();
    for (const recording of this.recordings.values()) rmSync(recording.dir, { recursive: true, force: true });
  }
}
