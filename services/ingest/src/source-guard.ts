import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { moduleLogger, RtspGuard, specUrlDigest, type Logger } from '@emostream/shared';
import type { IngestSettings } from './config.js';
import type { IngestMetrics } from './metrics.js';
import { assertValidStreamId, REFUSAL_REASONS, SourcePolicy, SourceRefusedError } from './source-policy.js';
import { buildSourceUrl, defaultPort } from './source-url.js';
import { HTTP_DEMUXERS, parseSource, type Source } from './sources.js';
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
  /** Refusals already counted and reported (a refusal seen again by the stream's runner is not counted twice). */
  private readonly reported = new WeakSet<SourceRefusedError>();
  /** Extra CAs (INGEST_CA_FILE), read once. */
  private extraCas: string[] | undefined;
  private caBundleFile: string | undefined;

  constructor(private readonly options: SourceGuardOptions) {
    this.policy = options.policy ?? policyFor(options.settings);
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
      const refusal = await checkStreamSpec(spec, this.options.settings, this.policy);
      if (refusal) throw refusal;
    } catch (error) {
      if (!(error instanceof SourceRefusedError)) throw error;
      await this.refused(spec.streamId, error);
      return error;
    }
    await this.report({ streamId: spec.streamId, state: 'starting', urlDigest: specUrlDigest(spec.url) });
    return undefined;
  }

  /**
   * Before each connection of an admitted stream: what ffmpeg opens. Network URLs are rebuilt from
   * their checked parts with their credential references resolved (bound to their hosts), HTTP
   * redirects followed and checked here, plain HTTP reached at the checked address, HTTPS verified,
   * and RTSP(S) reached through an RtspGuard (checked address, no redirects, verified TLS). Throws
   * SourceRefusedError (not retriable: the stream fails and is reported refused).
   */
  async prepare(streamId: string, source: Source, signal?: AbortSignal): Promise<Source> {
    const { settings } = this.options;
    try {
      if (source.kind === 'webcam') {
        await this.policy.check(source);
        return source;
      }
      if (source.kind === 'file') {
        await this.policy.check(source);
        // Local files only: a playlist or concat list in a media root cannot make ffmpeg fetch from the network.
        return { ...source, extraInputOptions: ['-protocol_whitelist', 'file'] };
      }
      const credentials = { credentialsDir: settings.credentialsDir, scope: settings.credentialsScope };
      let built = buildSourceUrl(source.input, credentials);
      let prepared: Source = { ...source, input: built.url };
      let addresses = await this.policy.check(prepared);
      if (source.kind === 'http') {
        const final = await this.policy.resolveRedirects(built.url, {
          timeoutMs: settings.connectTimeoutMs,
          ...(signal ? { signal } : {}),
          tls: (host, port) => ({ ca: this.cas(), verify: !this.tlsInsecure(host, port) }),
        });
        if (final !== built.url) {
          built = buildSourceUrl(final, credentials);
          prepared = { ...prepared, input: built.url };
          addresses = await this.policy.check(prepared);
        }
        return this.pinHttp({ ...prepared, redirectsChecked: true }, built.parsed, addresses);
      }
      return await this.guardRtsp(streamId, prepared, built.parsed, addresses);
    } catch (error) {
      // The stream's own reporter writes its refused status when its runner fails with this error.
      if (error instanceof SourceRefusedError) await this.refused(streamId, error, { writeStatus: false });
      throw error;
    }
  }

  /**
   * A refusal found after the connection started (ffmpeg refused a playlist): counted and logged once.
   * Its status is the stream's reporter's to write (with the stream's URL digest and frames), so one
   * refusal is one status record.
   */
  async reportRefusal(streamId: string, error: SourceRefusedError): Promise<void> {
    await this.refused(streamId, error, { writeStatus: false });
  }

  /** Plain HTTP goes to the checked address with the Host header of the name; HTTPS keeps the name and verifies it. */
  /**
   * HTTP(S) for ffmpeg: container formats only (no playlists: their segments could be on any host);
   * plain HTTP goes to the checked address with the name in the Host header; HTTPS keeps the name
   * (the certificate must be valid for it) and is verified.
   */
  private pinHttp(source: Source, url: URL, addresses: string[]): Source {
    const formats = ['-format_whitelist', HTTP_DEMUXERS.join(',')];
    // ffmpeg takes one address: IPv4 first, as most cameras listen there.
    const address = addresses.find((a) => isIP(a) === 4) ?? addresses[0];
    if (url.protocol === 'http:') {
      if (address === undefined || isIP(url.hostname.replace(/^\[|\]$/g, ''))) return { ...source, extraInputOptions: formats };
      const pinned = new URL(url.href);
      pinned.hostname = isIP(address) === 6 ? `[${address}]` : address;
      return { ...source, input: pinned.href, extraInputOptions: [...formats, '-headers', `Host: ${url.host}\r\n`] };
    }
    const port = Number(url.port) || defaultPort(url.protocol);
    if (this.tlsInsecure(url.hostname, port)) {
      this.logger.warn({ host: url.hostname, port }, 'TLS certificate NOT verified for this host (INGEST_TLS_INSECURE_HOSTS)');
      return { ...source, extraInputOptions: formats };
    }
    const bundle = this.caBundle();
    return { ...source, extraInputOptions: [...formats, '-tls_verify', '1', ...(bundle ? ['-ca_file', bundle] : [])] };
  }

  private async guardRtsp(streamId: string, source: Source, url: URL, addresses: string[]): Promise<Source> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port) || defaultPort(url.protocol);
    const secure = url.protocol === 'rtsps:';
    const verify = !(secure && this.tlsInsecure(host, port));
    if (!verify) this.logger.warn({ host, port }, 'TLS certificate NOT verified for this host (INGEST_TLS_INSECURE_HOSTS)');
    let refusal: SourceRefusedError | undefined;
    const guard = await RtspGuard.open({
      host,
      addresses: addresses.length > 0 ? addresses : [host],
      port,
      ...(secure ? { tls: { ca: this.cas(), verify } } : {}),
      connectTimeoutMs: this.options.settings.connectTimeoutMs,
      onRefused: (why) => {
        const error = new SourceRefusedError(why.reason === 'MALFORMED_ANSWER' ? 'REDIRECT_NOT_ALLOWED' : why.reason, why.message);
        refusal ??= error;
        void this.refused(streamId, error, { writeStatus: false });
      },
    });
    return { ...source, input: guard.urlFor(url), release: () => guard.close(), refusal: () => refusal };
  }

  private tlsInsecure(host: string, port: number): boolean {
    const name = host.toLowerCase();
    return this.options.settings.tlsInsecureHosts.some((entry) => {
      const text = entry.trim().toLowerCase();
      const [entryHost, entryPort] = text.startsWith('[') ? [text.slice(1, text.indexOf(']')), text.split(']:')[1]] : text.split(':');
      return entryHost === name && (entryPort === undefined || Number(entryPort) === port);
    });
  }

  private cas(): string[] {
    const file = this.options.settings.caFile;
    this.extraCas ??= file ? [readFileSync(file, 'utf8')] : [];
    return this.extraCas;
  }

  /** ffmpeg takes one CA file, which replaces the system's: the system CAs and INGEST_CA_FILE's, written once. */
  private caBundle(): string | undefined {
    if (!this.options.settings.caFile) return undefined;
    if (!this.caBundleFile) {
      const file = path.join(tmpdir(), `emostream-ingest-ca-${process.pid}.pem`);
      writeFileSync(file, [...rootCertificates, ...this.cas()].join('\n'));
      this.caBundleFile = file;
    }
    return this.caBundleFile;
  }

  /** The per-stream metric series of a removed stream, so they stay bounded by the streams that exist. */
  async forget(streamId: string): Promise<void> {
    const { metrics } = this.options;
    metrics.frames.remove({ stream: streamId });
    metrics.reconnects.remove({ stream: streamId });
    for (const reason of ['too_large', 'refused_by_broker']) metrics.framesDropped.remove({ stream: streamId, reason });
    // prom-client removes one label set at a time: the stream's error series, whatever their reason.
    for (const { labels } of (await metrics.errors.get()).values) {
      if (labels.stream === streamId) metrics.errors.remove({ stream: streamId, reason: String(labels.reason) });
    }
  }

  /** Counts and logs a refusal once; `writeStatus` for a spec refused before any runner (its only status). */
  private async refused(streamId: string, error: SourceRefusedError, { writeStatus = true } = {}): Promise<void> {
    if (this.reported.has(error)) return;
    this.reported.add(error);
    this.options.metrics.refused.inc({ reason: error.reason });
    // The id as JSON, cut short: it may be anything a topic writer chose.
    this.logger.warn(
      { streamId: JSON.stringify(streamId.slice(0, 80)), reason: error.reason, why: error.message },
      'stream spec refused: not fetched',
    );
    if (writeStatus)
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

/** The strict source policy of these ingest settings. */
export function policyFor(settings: IngestSettings): SourcePolicy {
  return new SourcePolicy({
    schemes: settings.allowedSchemes,
    allowHosts: settings.allowHosts,
    denyHosts: settings.denyHosts,
    mediaRoots: settings.mediaRoots,
  });
}

/**
 * Whether ingest with these settings would run this spec: its id, its values (sampling rate and
 * width within the limits), its URL (one parser's reading, credential references in their place and
 * bound to its host) and the source policy. Resolves to the refusal, or undefined when it would be
 * admitted (the stream cap aside). `emo streams add` can call it before writing a spec, with
 * `resolveCredentials: false` where ingest's credentials are not at hand.
 */
export async function checkStreamSpec(
  spec: Pick<StreamDefinition, 'streamId' | 'url' | 'sampleFps' | 'maxWidth'>,
  settings: IngestSettings,
  policy: SourcePolicy = policyFor(settings),
  options: {
    /** Resolve credential references (default: ingest's environment). Off, only their place and binding are checked. */
    resolveCredentials?: boolean;
  } = {},
): Promise<SourceRefusedError | undefined> {
  try {
    assertValidStreamId(spec.streamId);
    checkSpecValues(spec, settings);
    let source: Source;
    try {
      source = parseSource(spec.url);
    } catch {
      // parseSource's message quotes the URL: not here, a malformed URL may hide a credential.
      throw new SourceRefusedError(
        'INVALID_URL',
        'stream URL not usable: a file path, rtsp(s)://, http(s):// or webcam:/dev/videoN (not shown: it may hold a credential)',
      );
    }
    if (source.kind === 'rtsp' || source.kind === 'http') {
      source = {
        ...source,
        input: buildSourceUrl(source.input, {
          credentialsDir: settings.credentialsDir,
          scope: settings.credentialsScope,
          resolve: options.resolveCredentials !== false,
        }).url,
      };
    }
    await policy.check(source);
    return undefined;
  } catch (error) {
    if (error instanceof SourceRefusedError) return error;
    throw error;
  }
}

/** A spec's sampling rate and width: numbers within the replica's limits (0: the default). Throws SourceRefusedError. */
export function checkSpecValues(spec: Pick<StreamDefinition, 'sampleFps' | 'maxWidth'>, settings: IngestSettings): void {
  const { sampleFps, maxWidth } = spec;
  if (!Number.isFinite(sampleFps) || sampleFps < 0 || sampleFps > settings.maxSampleFps) {
    throw new SourceRefusedError(
      'SPEC_OUT_OF_RANGE',
      `sampleFps ${String(sampleFps).slice(0, 20)} refused: 0 (the default, ${settings.liveSampleFps}) up to ${settings.maxSampleFps} frames/s (INGEST_MAX_SAMPLE_FPS)`,
    );
  }
  if (!Number.isInteger(maxWidth) || (maxWidth !== 0 && (maxWidth < 16 || maxWidth > settings.maxFrameWidth))) {
    throw new SourceRefusedError(
      'SPEC_OUT_OF_RANGE',
      `maxWidth ${String(maxWidth).slice(0, 20)} refused: 0 (the default, ${settings.maxWidth}) or a whole number of pixels from 16 to ${settings.maxFrameWidth} (INGEST_MAX_FRAME_WIDTH)`,
    );
  }
}
