import { z } from 'zod';
import { type EnvBinding, envBindingsOf, fromEnv, runtimeConfigSchema } from '@emostream/shared';

export const ingestSettingsSchema = z
  .object({
    jpegQuality: fromEnv(
      'INGEST_JPEG_QUALITY',
      z.coerce.number().int().min(1).max(100).default(85).describe('JPEG quality of published frames, 1–100.'),
    ),
    maxWidth: fromEnv(
      'INGEST_MAX_WIDTH',
      z.coerce
        .number()
        .int()
        .min(0)
        .default(1920)
        .describe(
          "Frames wider than this are scaled down for transport (0 keeps the size). Boxes stay in the source's pixels and the face stage detects at its own size; 1920 keeps 1080p cameras whole (a downscale plus JPEG can cost marginal faces).",
        ),
    ),
    liveSampleFps: fromEnv(
      'INGEST_LIVE_SAMPLE_FPS',
      z.coerce.number().positive().max(60).default(5).describe('Sampling rate of live sources, frames/s.'),
    ),
    connectTimeoutMs: fromEnv(
      'INGEST_CONNECT_TIMEOUT_MS',
      z.coerce.number().int().positive().default(10_000).describe('Time to open a live source.'),
    ),
    readTimeoutMs: fromEnv(
      'INGEST_READ_TIMEOUT_MS',
      z.coerce.number().int().positive().default(10_000).describe('A live source silent this long counts as disconnected.'),
    ),
    reconnectInitialMs: fromEnv(
      'INGEST_RECONNECT_INITIAL_MS',
      z.coerce.number().int().positive().default(500).describe('First reconnect delay; doubles per failure.'),
    ),
    reconnectMaxMs: fromEnv(
      'INGEST_RECONNECT_MAX_MS',
      z.coerce.number().int().positive().default(30_000).describe('Longest reconnect delay.'),
    ),
    statusIntervalMs: fromEnv(
      'INGEST_STATUS_INTERVAL_MS',
      z.coerce
        .number()
        .int()
        .positive()
        .default(5_000)
        .describe(
          "While a stream's frames flow, its status (emo streams list) is written again with the time of its last frame at most this often.",
        ),
    ),
    // Source policy (docs/operations.md, "Source policy"): what a spec from the streams topic may open.
    allowedSchemes: fromEnv(
      'INGEST_ALLOWED_SCHEMES',
      commaList(['rtsp', 'rtsps', 'http', 'https', 'file', 'webcam']).describe(
        'URL schemes stream specs may use (rtsp, rtsps, http, https, file, webcam), comma-separated.',
      ),
    ),
    allowHosts: fromEnv(
      'INGEST_ALLOW_HOSTS',
      commaList([]).describe(
        "Hosts a spec may name although they are loopback, link-local, private or cluster addresses: host, host:port, *.domain, IP, IP:port or CIDR, comma-separated (e.g. the cameras' subnet 192.168.10.0/24).",
      ),
    ),
    denyHosts: fromEnv('INGEST_DENY_HOSTS', commaList([]).describe('Hosts and CIDRs always refused, even when allowed, comma-separated.')),
    mediaRoots: fromEnv(
      'INGEST_MEDIA_ROOTS',
      commaList([]).describe('Folders file specs may read from, comma-separated; empty: no files.'),
    ),
    credentialsDir: fromEnv(
      'INGEST_CREDENTIALS_DIR',
      z
        .string()
        .default('/var/run/secrets/emostream/cameras')
        .describe('Folder of camera credential files (a mounted Kubernetes Secret) that a URL names as ${file:NAME}.'),
    ),
    credentialsScope: fromEnv(
      'INGEST_CREDENTIALS_SCOPE',
      commaList([])
        .refine((entries) => entries.every((entry) => CREDENTIAL_SCOPE_ENTRY.test(entry)), {
          message: 'each entry is env:INGEST_CREDENTIAL_NAME=scheme://host[:port] or file:NAME=scheme://host[:port]',
        })
        .describe(
          'Where each camera credential may be sent: entries env:INGEST_CREDENTIAL_NAME=scheme://host[:port] or file:NAME=scheme://host[:port] (the default port of the scheme when none), comma-separated; a credential may have several entries. A reference used in a URL of another scheme, host or port is refused (CREDENTIAL_NOT_BOUND), and so is one with no entry.',
        ),
    ),
    maxSampleFps: fromEnv(
      'INGEST_MAX_SAMPLE_FPS',
      z.coerce
        .number()
        .positive()
        .max(60)
        .default(30)
        .describe(
          'Highest sampling rate a stream spec may ask for (its sampleFps), frames/s; a spec over it is refused (SPEC_OUT_OF_RANGE).',
        ),
    ),
    maxFrameWidth: fromEnv(
      'INGEST_MAX_FRAME_WIDTH',
      z.coerce
        .number()
        .int()
        .min(16)
        .max(16_384)
        .default(3840)
        .describe('Widest frame a stream spec may ask for (its maxWidth); a spec over it is refused (SPEC_OUT_OF_RANGE).'),
    ),
    maxFrameBytes: fromEnv(
      'INGEST_MAX_FRAME_BYTES',
      z.coerce
        .number()
        .int()
        .min(1_024)
        .default(1_000_000)
        .describe(
          'Largest JPEG frame published; a bigger one (e.g. a noise stream at full size) is dropped and counted (emostream_ingest_frames_dropped_total{reason="too_large"}), never sent to the broker. A frame the broker refuses as too large is dropped the same way, and only that frame.',
        ),
    ),
    caFile: fromEnv(
      'INGEST_CA_FILE',
      z
        .string()
        .default('')
        .describe(
          'PEM bundle of extra certificate authorities trusted for https:// and rtsps:// sources (besides the system CAs); empty: system CAs only.',
        ),
    ),
    tlsInsecureHosts: fromEnv(
      'INGEST_TLS_INSECURE_HOSTS',
      commaList([]).describe(
        'Hosts (host or host:port) whose https:// or rtsps:// certificate is NOT verified: an explicit opt-out for a camera with a self-signed certificate, logged at every connection.',
      ),
    ),
    maxStreams: fromEnv(
      'INGEST_MAX_STREAMS',
      z.coerce
        .number()
        .int()
        .positive()
        .max(1_000)
        .default(32)
        .describe(
          'Most streams this replica runs at once, and so most ffmpeg processes (one per stream); more specs are refused (status CAPACITY) and start, oldest first, when a stream here ends or is removed.',
        ),
    ),
  })
  .strict();
/** `env:INGEST_CREDENTIAL_NAME=scheme://host[:port]` or `file:NAME=scheme://host[:port]`. */
export const CREDENTIAL_SCOPE_ENTRY =
  /^(env:INGEST_CREDENTIAL_[A-Z0-9_]{1,64}|file:[A-Za-z0-9_-][A-Za-z0-9._-]{0,127})=(rtsps?|https?):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\/?$/;

/** A list from the environment ("a,b") or a config file (a YAML list). */
function commaList(fallback: string[]) {
  return z
    .preprocess(
      (value) =>
        typeof value === 'string'
          ? value
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : value,
      z.array(z.string().min(1)),
    )
    .default(fallback);
}

export type IngestSettings = z.infer<typeof ingestSettingsSchema>;

export const ingestConfigSchema = z.object({ runtime: runtimeConfigSchema, ingest: ingestSettingsSchema.default({}) }).strict();
export type IngestConfig = z.infer<typeof ingestConfigSchema>;

/** Its environment variables, as its fields declare them (`fromEnv`). */
export const ingestEnvBindings: EnvBinding[] = envBindingsOf(ingestConfigSchema);
