import { context, propagation, trace, SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { NodeSDK } from '@opentelemetry/sdk-node';
import type { Headers } from '../bus/types.js';

let started = false;
let sdk: NodeSDK | undefined;

export interface TracingOptions {
  serviceName: string;
  /** 'none' still propagates `traceparent` from inputs to outputs, but records and exports no spans. */
  exporter: 'none' | 'otlp';
  /** OTLP/HTTP traces endpoint; else the OTEL_EXPORTER_OTLP_* environment decides. */
  endpoint?: string | undefined;
}

/**
 * Starts tracing once per process (later calls are no-ops, so `emo run` can start five stages in
 * one process). W3C trace context always goes from a message's inputs to its outputs. Spans are
 * recorded only with an exporter: the OpenTelemetry SDK is then loaded (it costs a few hundred ms
 * of start-up, which every process paid before, exporting or not). Without one, an output carries
 * its input's span as parent, so an exporting service downstream links to the last exported span.
 */
export async function startTracing(options: TracingOptions): Promise<void> {
  if (started) return;
  started = true;
  if (options.exporter === 'none') {
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
    return;
  }
  // Written, not read: the OpenTelemetry SDK takes its exporter from these variables, and our own
  // settings (EMOSTREAM_TRACING_EXPORTER, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT in the runtime schema) fill them.
  process.env.OTEL_TRACES_EXPORTER = 'otlp';
  if (options.endpoint) process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = options.endpoint;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  sdk = new NodeSDK({
    serviceName: options.serviceName,
    autoDetectResources: false,
    // Logs and metrics have their own paths (pino, prom-client); never let the SDK open exporters for them.
    logRecordProcessors: [],
    metricReaders: [],
  });
  sdk.start();
}

export async function stopTracing(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  started = false;
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
