import { randomBytes } from 'node:crypto';
import type { Bus } from '@emostream/shared';
import { LiveView, liveViewFeed } from '@emostream/sink';
import type { RunInput } from './inputs.js';

export interface ServeOptions {
  port: number;
  host?: string;
  /** Told the page's address once it is up. */
  onReady?: (url: string) => Promise<void> | void;
}

/**
 * `emo run --serve`: the live view on the run's own bus — every input's pictures with boxes, labels
 * and per-track timelines, RTSP inputs relayed as live video. Returns what `runPipeline` calls once
 * the pipeline is up (its `attach` option); that in turn returns the view's closer.
 */
export function serveLiveView(inputs: RunInput[], options: ServeOptions) {
  return async (bus: Bus, prefix: string): Promise<() => Promise<void>> => {
    const host = options.host ?? '127.0.0.1';
    // Beyond loopback the view needs a token: a fresh one per run, in the address printed for the user.
    const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
    const view = new LiveView({ port: options.port, host, ...(loopback ? {} : { token: randomBytes(18).toString('base64url') }) });
    const { url } = await view.start();
    const stopFeed = await liveViewFeed(bus, prefix, view);
    for (const input of inputs) if (input.kind === 'rtsp') view.addRtspSource(input.name, input.input);
    await options.onReady?.(url);
    return async () => {
      await stopFeed();
      await view.close();
    };
  };
}
