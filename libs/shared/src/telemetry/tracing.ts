import { context, propagation, trace, SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { Headers } from '../bus/types.js';

let sdk: NodeSDK | undefined;

export interface TracingOptions {
  serviceName: string;
  /** 'none' still propagates `traceparent` from inputs to outputs, but records and exports no spans. */
  exporter: 'none' | 'otlp';
  /** OTLP/HTTP traces endpoint; else the OTEL_EXPORTER_OTLP_* environment decides. */
  endpoint?: string | undefined;
}

/**
 * Starts OpenTelemetry once per process (W3C trace-context propagation; an OTLP exporter only when
 * configured). Later calls are no-ops, so `emo run` can start five stages in one process.
 */
export function startTracing(options: TracingOptions): void {
  if (sdk) return;
  if (options.exporter === 'otlp') {
    process.env.OTEL_TRACES_EXPORTER = 'otlp';
    if (options.endpoint) process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = options.endpoint;
  }
  sdk = new NodeSDK({
    serviceName: options.serviceName,
    autoDetectResources: false,
    // Logs and metrics have their own paths (pino, prom-client); never let the SDK open exporters for them.
    logRecordProcessors: [],
    metricReaders: [],
    ...(options.exporter === 'none' ? { spanProcessors: [] } : {}),
  });
  sdk.start();
}

export async function stopTracing(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  await running?.shutdown();
}

const headerGetter = {
  keys: (carrier: Headers) => Object.keys(carrier),
  get: (carrier: Headers, key: string) => carrier[key],
};

/** The trace context a message's headers carry (`traceparent`, `tracestate`). */
export function contextFromHeaders(headers: Headers): Context {
  return propagation.extract(context.active(), headers, headerGetter);
}

/** Headers that carry `ctx` on to the next topic. */
export function headersFromContext(ctx: Context): Headers {
  const headers: Headers = {};
  propagation.inject(ctx, headers);
  return headers;
}

/** A span for processing one consumed message, child of the context its headers carry. */
export function startMessageSpan(stage: string, topic: string, headers: Headers): { span: Span; context: Context } {
  const parent = contextFromHeaders(headers);
  const span = trace
    .getTracer('emostream')
    .startSpan(
      `${stage} process`,
      { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'kafka', 'messaging.source.name': topic } },
      parent,
    );
  return { span, context: trace.setSpan(parent, span) };
}

export function endSpan(span: Span, error?: Error): void {
  if (error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  }
  span.end();
}
