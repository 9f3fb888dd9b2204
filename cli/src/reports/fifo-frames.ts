import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { Socket, type ConnectOpts, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A pipe's folder in the temp folder: this prefix, the pid of the process that made it, a dash, a random part. */
const PIPE_DIR_PREFIX = 'emostream-frames-';
const PIPE_DIR = new RegExp(`^${PIPE_DIR_PREFIX}(\\d+)-`);

/**
 * Removes the pipe folders of processes that are gone: a run killed outright (SIGKILL, the OOM
 * killer) cannot remove its own. A folder of another user that cannot be removed is left.
 */
export function removeAbandonedPipes(dir = tmpdir()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(PIPE_DIR.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    try {
      rmSync(path.join(dir, name), { recursive: true, force: true });
    } catch {
      // Another user's, in a shared temp folder: theirs to remove.
    }
  }
}

/** The sweep runs once a process: only a run that has ended leaves folders behind. */
let abandonedPipesRemoved = false;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Raw frames of a fixed size that an ffmpeg writes into a named pipe (FIFO) this class makes: read
 * straight into frame buffers that are handed back and reused. Read from ffmpeg's stdout instead,
 * the 720p demo clip's 207 MB arrived as 3,200 fresh 64 KiB chunks, each copied once more into its
 * frame, and their garbage doubled the run's full garbage collections (issue 29).
 *
 * Any ffmpeg may write it (`path`): the annotated video's own decoder, or ingest's, decoding the
 * input once for both. The FIFO is opened here first, without waiting for a writer: a placeholder
 * writer keeps the reading side from seeing an end before the real one comes, and goes once the first
 * bytes arrive, or when `writerGone` says none will (its ffmpeg ended without opening the FIFO).
 */
export class FifoFrames {
  /** The FIFO an ffmpeg writes the frames to (`-f rawvideo … <path>`). */
  readonly path: string;
  private readonly dir: string;
  private readonly socket: Socket;
  private placeholderWriter: number | undefined;
  /** Frames read completely, oldest first, not yet taken by `next`. */
  private readonly ready: Buffer[] = [];
  /** Frames handed back (`release`), for the next reads. */
  private readonly spare: Buffer[] = [];
  private current: Buffer;
  private filled = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  /**
   * @param frameBytes one frame's size
   * @param readAhead frames read before the reader stops reading (and so the writer waits): how far
   * the writer may run ahead of what `next` has taken
   * @param onFull told when reading stops because `readAhead` frames wait
   */
  constructor(
    private readonly frameBytes: number,
    private readonly readAhead: number,
    private readonly onFull: () => void = () => undefined,
  ) {
    abandonedPipesRemoved ||= (removeAbandonedPipes(), true);
    this.dir = mkdtempSync(path.join(tmpdir(), `${PIPE_DIR_PREFIX}${process.pid}-`));
    this.path = path.join(this.dir, 'frames.yuv');
    try {
      // Node has no mkfifo; coreutils' is in every image this runs in.
      execFileSync('mkfifo', ['-m', '600', this.path]);
      // Opening the reading side without O_NONBLOCK would wait for a writer; with it, a read before
      // any writer has come would be an end: the placeholder writer is there until the real one is.
      const fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
      this.placeholderWriter = openSync(this.path, constants.O_WRONLY | constants.O_NONBLOCK);
      this.current = Buffer.allocUnsafe(frameBytes);
      // Node's Socket constructor takes `onread` as connect() does (Node ≥ 12); @types/node lists it for connect() only.
      const options: SocketConstructorOpts & ConnectOpts = {
        fd,
        readable: true,
        writable: false,
        // Each read lands in the current frame, after what it already holds.
        onread: { buffer: () => this.current.subarray(this.filled), callback: (bytes) => this.received(bytes) },
      };
      this.socket = new Socket(options);
    } catch (error) {
      this.removeFifo();
      throw new Error(`cannot make the annotated video's frame pipe in ${tmpdir()}: ${(error as Error).message}`, { cause: error });
    }
    this.socket.on('end', () => this.finish());
    this.socket.on('error', (error: Error) => this.finish(error));
    this.socket.resume();
  }

  /** The next whole frame, or undefined once the writer has ended (a partial last frame is dropped). */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const frame = this.ready.shift();
      if (frame) {
        // Reading stopped while `readAhead` frames waited: there is room again.
        if (this.ready.length < this.readAhead && !this.ended) this.socket.resume();
        return frame;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Whether reading has stopped because `readAhead` frames wait (and so the writer waits too). */
  get full(): boolean {
    return this.ready.length >= this.readAhead;
  }

  /** A frame `next` gave is no longer used: its buffer takes a later frame. */
  release(frame: Buffer): void {
    this.spare.push(frame);
  }

  /** The writer has ended or never will open the FIFO: what it wrote is read, then `next` ends. */
  writerGone(): void {
    if (this.placeholderWriter === undefined) return;
    closeSync(this.placeholderWriter);
    this.placeholderWriter = undefined;
  }

  /** Stops reading and removes the FIFO. A writer still writing gets EPIPE. */
  close(): void {
    this.writerGone();
    this.socket.destroy();
    this.finish();
    this.removeFifo();
  }

  private received(bytes: number): boolean {
    // The real writer is here: from now on its end is the end.
    this.writerGone();
    this.filled += bytes;
    if (this.filled === this.frameBytes) {
      this.ready.push(this.current);
      this.current = this.spare.pop() ?? Buffer.allocUnsafe(this.frameBytes);
      this.filled = 0;
      this.wake?.();
    }
    if (!this.full) return true;
    this.onFull();
    // false stops reading until `next` makes room (net.Socket's onread contract).
    return false;
  }

  private finish(error?: Error): void {
    this.ended = true;
    this.failure ??= error;
    this.wake?.();
  }

  private removeFifo(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
