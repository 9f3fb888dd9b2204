// node-rtsp-stream ships no types. Only its ffmpeg wrapper is used (see rtsp-relay.ts).
declare module 'node-rtsp-stream/mpeg1muxer.js' {
  import type { ChildProcess } from 'node:child_process';
  import type { EventEmitter } from 'node:events';

  interface Mpeg1MuxerOptions {
    url: string;
    ffmpegPath: string;
    /** Extra ffmpeg arguments, placed after `-f mpegts -codec:v mpeg1video` (output options). */
    ffmpegOptions?: Record<string, string | number>;
  }
  interface Mpeg1Muxer extends EventEmitter {
    readonly stream: ChildProcess;
    on(event: 'mpeg1data', listener: (data: Buffer) => void): this;
    on(event: 'ffmpegStderr', listener: (data: Buffer) => void): this;
    on(event: 'exitWithError', listener: () => void): this;
  }
  const Mpeg1Muxer: new (options: Mpeg1MuxerOptions) => Mpeg1Muxer;
  export default Mpeg1Muxer;
}
