declare module 'pipe2jpeg' {
  import { Transform } from 'node:stream';
  /** Splits a stream of concatenated JPEGs (ffmpeg's image2pipe) into one Buffer per image. */
  export default class Pipe2Jpeg extends Transform {
    constructor(options?: object);
    on(event: 'jpeg', listener: (jpeg: Buffer) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
  }
}
