import { moduleLogger, specUrlDigest, type Logger } from '@emostream/shared';
import type { IngestSettings } from './config.js';
import { hasCredentialReferences, resolveCredentialReferences } from './credentials.js';
import type { IngestMetrics } from './metrics.js';
import { assertValidStreamId, REFUSAL_REASONS, SourcePolicy, SourceRefusedError } from './source-policy.js';
import { parseSource, type Source } from './sources.js';
import type { StreamStatusWriter } from './stream-status.js';
import type { StreamDefinition } from './stream-runner.js';

export interface SourceGuardOptions {
  settings: IngestSettings;
  metrics: IngestMetrics;
  /** Where refusals and starts are reported for `emo streams list`; none in tests that do not need it. */
  status?: StreamStatusWriter;
  instanceId?: string;
  logger?: Logger;
  /** The policy; by default the strict one built from `settings`. */
  policy?: SourcePolicy;
}

/**
 * The gate between the streams topic and ffmpeg: a spec starts only with a valid id, below the
 * replica's stream cap and allowed by the source policy; before every connection its credential
 * references are resolved and the source checked again (names may resolve elsewhere by then, HTTP
 * redirects are followed and checked here). A refusal is logged with its reason, counted
 * (emostream_ingest_streams_refused_total{reason}) and written to the stream-status topic.
 */
export class SourceGuard {
  readonly policy: SourcePolicy;
  private readonly logger: Logger;

  constructor(private readonly options: SourceGuardOptions) {
    const { settings } = options;
    this.policy =
      options.policy ??
      new SourcePolicy({
        schemes: settings.allowedSchemes,
        allowHosts: settings.allowHosts,
        denyHosts: settings.denyHosts,
        mediaRoots: settings.mediaRoots,
      });
    this.logger = options.logger ?? moduleLogger('source-guard');
    // Every reason's series exists from the start (at 0): a dashboard sees "none refused", and the set is fixed.
    for (const reason of REFUSAL_REASONS) options.metrics.refused.inc({ reason }, 0);
  }

  /** Whether `spec` may start now, with `running` streams already running here: undefined when it may, else its refusal (reported). */
  async admit(spec: StreamDefinition, running: number): Promise<SourceRefusedError | undefined> {
    try {
      assertValidStreamId(spec.streamId);
      if (running >= this.options.settings.maxStreams) {
        throw new SourceRefusedError(
          'CAPACITY',
          `this replica already runs ${running} streams (INGEST_MAX_STREAMS=${this.options.settings.maxStreams})`,
        );
      }
      await this.policy.check(this.parse(spec.url));
    } catch (error) {
      if (!(error instanceof SourceRefusedError)) throw error;
      await this.refused(spec.streamId, error);
      return error;
    }
    await this.report({ streamId: spec.streamId, state: 'starting', urlDigest: specUrlDigest(spec.url) });
    return undefined;
  }

  /**
   * Before each connection of an admitted stream: what ffmpeg opens. Throws SourceRefusedError
   * (not retriable: the stream fails and is reported refused).
   */
  async prepare(streamId: string, source: Source, signal?: AbortSignal): Promise<Source> {
    try {
      const input = hasCredentialReferences(source.input)
        ? resolveCredentialReferences(source.input, { credentialsDir: this.options.settings.credentialsDir })
        : source.input;
      const resolved: Source = { ...source, input };
      await this.policy.check(resolved);
      if (resolved.kind !== 'http') return resolved;
      const final = await this.policy.resolveRedirects(resolved.input, {
        timeoutMs: this.options.settings.connectTimeoutMs,
        ...(signal ? { signal } : {}),
      });
      return { ...resolved, input: final, redirectsChecked: true };
    } catch (error) {
      if (error instanceof SourceRefusedError) await this.refused(streamId, error);
      throw error;
    }
  }

  /** The per-stream metric series of a removed stream, so they stay bounded by the streams that exist. */
  async forget(streamId: string): Promise<void> {
    const { metrics } = this.options;
    metrics.frames.remove({ stream: streamId });
    metrics.reconnects.remove({ stream: streamId });
    // prom-client removes one label set at a time: the stream's error series, whatever their reason.
    for (const { labels } of (await metrics.errors.get()).values) {
      if (labels.stream === streamId) metrics.errors.remove({ stream: streamId, reason: String(labels.reason) });
    }
  }

  private parse(url: string): Source {
    try {
      return parseSource(url);
    } catch {
      // parseSource's message quotes the URL: not here, a malformed URL may hide a credential.
      throw new SourceRefusedError(
        'INVALID_URL',
        'stream URL not usable: a file path, rtsp(s)://, http(s):// or webcam:/dev/videoN (not shown: it may hold a credential)',
      );
    }
  }

  private async refused(streamId: string, error: SourceRefusedError): Promise<void> {
    this.options.metrics.refused.inc({ reason: error.reason });
    // The id as JSON, cut short: it may be anything a topic writer chose.
    this.logger.warn(
      { streamId: JSON.stringify(streamId.slice(0, 80)), reason: error.reason, why: error.message },
      'stream spec refused: not fetched',
    );
    await this.report({ streamId: streamId.slice(0, 200), state: 'refused', reason: error.reason, message: error.message });
  }

  private async report(status: {
    streamId: string;
    state: 'starting' | 'refused';
    reason?: SourceRefusedError['reason'];
    message?: string;
    urlDigest?: string;
  }): Promise<void> {
    if (!this.options.status) return;
    try {
      await this.options.status.write({ ...status, instanceId: this.options.instanceId ?? '', atMs: Date.now() });
    } catch (error) {
      // Advisory: a status that cannot be written must not stop the streams.
      this.logger.warn({ err: error }, 'could not write a stream status');
    }
  }
}
