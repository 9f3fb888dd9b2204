import { MultiBar, Presets, type SingleBar } from 'cli-progress';

/** What one input has done so far, as the progress display shows it. */
export interface InputProgress {
  /** Video frames covered (files: the last processed frame number; live: sampled frames processed). */
  frames: number;
  faces: number;
}

export interface ProgressLine {
  update(progress: InputProgress): void;
  /** Ends the line with a final word ("done", "stopped", "failed"). */
  finish(word: string): void;
}

/**
 * emo run's progress on a terminal: a bar per file input (frames done of total, faces, frames/s,
 * ETA) and a running status line per live input (frames, faces, frames/s, time running). Lines
 * printed meanwhile (the per-input summaries) go above the bars. Off a terminal (pipes, CI, tests)
 * nothing is drawn and lines are printed as they come.
 */
export class RunProgress {
  private bars: MultiBar | undefined;

  constructor(enabled = Boolean(process.stderr.isTTY)) {
    this.bars = enabled
      ? new MultiBar(
          { clearOnComplete: false, hideCursor: true, autopadding: true, etaBuffer: 30, fps: 5, stream: process.stderr },
          Presets.shades_classic,
        )
      : undefined;
  }

  /** A bar for a file of `totalFrames` frames (0 = unknown: shown as a status line). */
  file(name: string, totalFrames: number): ProgressLine {
    if (totalFrames <= 0) return this.live(name);
    return this.line(
      name,
      totalFrames,
      ' {name} |{bar}| {value}/{total} frames | {faces} faces | {rate} frames/s | ETA {eta_formatted} {word}',
    );
  }

  /** A status line for a live source, which has no end to measure against. */
  live(name: string): ProgressLine {
    return this.line(name, 0, ' {name} ● {value} frames | {faces} faces | {rate} frames/s | {duration_formatted} {word}');
  }

  log(line: string): void {
    if (this.bars) this.bars.log(`${line}\n`);
    else console.log(line);
  }

  /** Stops drawing; lines logged afterwards are printed plainly. */
  stop(): void {
    // A last redraw prints lines logged since the previous one (stop() alone would drop them).
    this.bars?.update();
    this.bars?.stop();
    this.bars = undefined;
  }

  private line(name: string, total: number, format: string): ProgressLine {
    const bars = this.bars;
    if (!bars) return { update() {}, finish() {} };
    const started = performance.now();
    const bar: SingleBar = bars.create(total, 0, { name, faces: 0, rate: '0.0', word: '' }, { format });
    return {
      update({ frames, faces }) {
        const seconds = (performance.now() - started) / 1000;
        bar.update(frames, { faces, rate: (seconds > 0 ? frames / seconds : 0).toFixed(1) });
      },
      finish(word) {
        bar.update({ word });
        bar.stop();
      },
    };
  }
}
