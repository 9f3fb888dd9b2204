import { z } from 'zod';
import { type EnvBinding, envBindingsOf, fromEnv, envBoolean, runtimeConfigSchema } from '@emostream/shared';

export const sinkSettingsSchema = z
  .object({
    liveViewPort: fromEnv(
      'SINK_LIVE_VIEW_PORT',
      z.coerce
        .number()
        .int()
        .min(0)
        .max(65535)
        .default(0)
        .describe('Port of the live view web page (pictures, boxes, timelines of every stream); 0 = no live view.'),
    ),
    liveViewHost: fromEnv(
      'SINK_LIVE_VIEW_HOST',
      z
        .string()
        .min(1)
        .default('127.0.0.1')
        .describe('Address the live view listens on: loopback by default (it shows camera pictures); 0.0.0.0 to reach it from elsewhere.'),
    ),
    liveViewToken: fromEnv(
      'SINK_LIVE_VIEW_TOKEN',
      z
        .string()
        .min(16)
        .optional()
        .describe(
          'Token the live view page must present (open it as http://host:port/?token=…); required when it listens beyond loopback.',
        ),
      { secret: true },
    ),
    liveViewRelayRtsp: fromEnv(
      'SINK_LIVE_VIEW_RELAY_RTSP',
      envBoolean.default(true).describe('Relay the RTSP streams of the streams topic as live video on the page (ffmpeg per stream).'),
    ),
  })
  .strict();
export type SinkSettings = z.infer<typeof sinkSettingsSchema>;

export const sinkConfigSchema = z.object({ runtime: runtimeConfigSchema, sink: sinkSettingsSchema.default({}) }).strict();
export type SinkConfig = z.infer<typeof sinkConfigSchema>;

/** Its environment variables, as its fields declare them (`fromEnv`). */
export const sinkEnvBindings: EnvBinding[] = envBindingsOf(sinkConfigSchema);
