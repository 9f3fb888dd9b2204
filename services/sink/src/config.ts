import { z } from 'zod';
import { type EnvBinding, envBindingsOf, envBoolean, runtimeConfigSchema } from '@emostream/shared';

export const sinkSettingsSchema = z
  .object({
    liveViewPort: z.coerce
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(0)
      .describe('Port of the live view web page (pictures, boxes, timelines of every stream); 0 = no live view. Env SINK_LIVE_VIEW_PORT.'),
    liveViewHost: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe(
        'Address the live view listens on: loopback by default (it shows camera pictures); 0.0.0.0 to reach it from elsewhere. Env SINK_LIVE_VIEW_HOST.',
      ),
    liveViewToken: z
      .string()
      .min(16)
      .optional()
      .describe(
        'Token the live view page must present (open it as http://host:port/?token=…); required when it listens beyond loopback. Env SINK_LIVE_VIEW_TOKEN (secret: from a Kubernetes Secret).',
      ),
    liveViewRelayRtsp: envBoolean
      .default(true)
      .describe(
        'Relay the RTSP streams of the streams topic as live video on the page (ffmpeg per stream). Env SINK_LIVE_VIEW_RELAY_RTSP.',
      ),
  })
  .strict();
export type SinkSettings = z.infer<typeof sinkSettingsSchema>;

export const sinkConfigSchema = z.object({ runtime: runtimeConfigSchema, sink: sinkSettingsSchema.default({}) }).strict();
export type SinkConfig = z.infer<typeof sinkConfigSchema>;

/** Its environment variables, read from the schema (each field's description names its variable). */
export const sinkEnvBindings: EnvBinding[] = envBindingsOf(sinkConfigSchema);
