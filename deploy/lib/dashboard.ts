/**
 * The Grafana dashboard of the pipeline, as code: `npm run deploy:dashboard` writes it to
 * deploy/k8s/base/monitoring/emostream-dashboard.json (a test fails when the file is stale, and
 * another scrapes running stages to check that every metric named here is really exported).
 */
const RUNNER_STAGES = ['face', 'backbone', 'temporal', 'sink'] as const;
const ALL_STAGES = ['ingest', ...RUNNER_STAGES] as const;

interface Target {
  expr: string;
  legendFormat: string;
}

interface Panel {
  title: string;
  type: 'timeseries' | 'table' | 'stat';
  unit: string;
  targets: Target[];
  description: string;
  stacked?: boolean;
}

const rate = (metric: string, selector = '') => `rate(${metric}${selector}[$__rate_interval])`;
const p95 = (metric: string, by = 'le') => `histogram_quantile(0.95, sum by (${by}) (${rate(`${metric}_bucket`)}))`;

export const panels: Panel[] = [
  {
    title: 'Throughput per stage (inputs/s)',
    type: 'timeseries',
    unit: 'ops',
    description: 'Inputs processed per second by each stage; ingest: sampled frames published.',
    targets: [
      { expr: `sum(${rate('emostream_ingest_frames_total')})`, legendFormat: 'ingest (frames)' },
      ...RUNNER_STAGES.map((s) => ({ expr: `sum(${rate(`emostream_${s}_messages_total`, '{outcome="processed"}')})`, legendFormat: s })),
    ],
  },
  {
    title: 'Consumer-group lag (records)',
    type: 'timeseries',
    unit: 'short',
    description: "Records each stage's consumer group is behind on its input topic (Strimzi's Kafka Exporter). What KEDA scales on.",
    targets: [
      { expr: 'sum by (consumergroup) (kafka_consumergroup_lag{consumergroup=~"$prefix\\\\..+"})', legendFormat: '{{consumergroup}}' },
    ],
  },
  {
    title: 'Handler latency p95 per stage',
    type: 'timeseries',
    unit: 's',
    description: 'Time the handler spends on one batch.',
    targets: RUNNER_STAGES.map((s) => ({ expr: p95(`emostream_${s}_handle_seconds`), legendFormat: s })),
  },
  {
    title: 'Processing latency p95 per stage (append → outputs acknowledged)',
    type: 'timeseries',
    unit: 's',
    description: "From an input's append to the bus to its outputs being acknowledged: queueing plus handling.",
    targets: RUNNER_STAGES.map((s) => ({ expr: p95(`emostream_${s}_process_latency_seconds`), legendFormat: s })),
  },
  {
    title: 'End-to-end latency (capture → event)',
    type: 'timeseries',
    unit: 's',
    description: 'From frame capture to its face events, all streams.',
    targets: [0.5, 0.95, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (le) (${rate('emostream_sink_end_to_end_seconds_bucket')}))`,
      legendFormat: `p${Math.round(q * 100)}`,
    })),
  },
  {
    title: 'Batch sizes (mean inputs per batch; backbone faces per model call)',
    type: 'timeseries',
    unit: 'short',
    description: 'Mean batch size per stage, and the backbone micro-batch (faces per model call).',
    targets: [
      ...RUNNER_STAGES.map((s) => ({
        expr: `sum(${rate(`emostream_${s}_batch_size_sum`)}) / sum(${rate(`emostream_${s}_batch_size_count`)})`,
        legendFormat: s,
      })),
      {
        expr: `sum(${rate('emostream_backbone_inference_batch_faces_sum')}) / sum(${rate('emostream_backbone_inference_batch_faces_count')})`,
        legendFormat: 'backbone faces per model call',
      },
    ],
  },
  {
    title: 'Backbone model call p95',
    type: 'timeseries',
    unit: 's',
    description: 'Time of one backbone inference call (GPU or CPU).',
    targets: [{ expr: p95('emostream_backbone_inference_seconds'), legendFormat: 'p95' }],
  },
  {
    title: 'Faces per second',
    type: 'timeseries',
    unit: 'ops',
    description: 'Faces detected, cropped and embedded, and detected faces dropped by reason (every detected face is cropped or dropped).',
    targets: [
      { expr: `sum(${rate('emostream_face_detections_total')})`, legendFormat: 'detected' },
      { expr: `sum(${rate('emostream_face_crops_total')})`, legendFormat: 'cropped' },
      { expr: `sum(${rate('emostream_backbone_faces_total')})`, legendFormat: 'embedded' },
      { expr: `sum by (reason) (${rate('emostream_face_dropped_total')})`, legendFormat: 'dropped ({{reason}})' },
    ],
  },
  {
    title: 'Skipped frames (by reason)',
    type: 'timeseries',
    unit: 'ops',
    description: 'Frames the backbone skipped as too old (BACKBONE_MAX_FRAME_AGE_MS).',
    targets: [{ expr: `sum by (reason) (${rate('emostream_backbone_frames_skipped_total')})`, legendFormat: '{{reason}}' }],
  },
  {
    title: 'Dead-lettered inputs per stage',
    type: 'timeseries',
    unit: 'ops',
    description: 'Inputs sent to the DLQ (undecodable or failed non-retriably), and retried batches.',
    targets: RUNNER_STAGES.flatMap((s) => [
      { expr: `sum(${rate(`emostream_${s}_messages_total`, '{outcome="dead_lettered"}')})`, legendFormat: `${s} dead-lettered` },
      { expr: `sum(${rate(`emostream_${s}_messages_total`, '{outcome="retried"}')})`, legendFormat: `${s} retried` },
    ]),
  },
  {
    title: 'Camera reconnects and stream errors',
    type: 'timeseries',
    unit: 'short',
    description: 'Reconnect attempts per stream, and stream failures by reason (ingest).',
    targets: [
      { expr: 'sum by (stream) (increase(emostream_ingest_reconnects_total[$__rate_interval]))', legendFormat: 'reconnects {{stream}}' },
      {
        expr: 'sum by (stream, reason) (increase(emostream_ingest_stream_errors_total[$__rate_interval]))',
        legendFormat: '{{reason}} {{stream}}',
      },
    ],
  },
  {
    title: 'Streams running (ingest)',
    type: 'stat',
    unit: 'short',
    description: 'Streams the ingest replicas are reading now.',
    targets: [{ expr: 'sum(emostream_ingest_streams_running)', legendFormat: 'streams' }],
  },
  {
    title: 'Ready replicas per stage',
    type: 'timeseries',
    unit: 'short',
    description: 'Replicas whose stage is RUNNING (what /readyz reports).',
    targets: ALL_STAGES.map((s) => ({ expr: `sum(emostream_${s}_ready)`, legendFormat: s })),
  },
  {
    title: 'Emotions per stream (face events/s by label)',
    type: 'timeseries',
    unit: 'ops',
    stacked: true,
    description: 'Face events per label and stream: the dominant emotion of each face in each sampled frame.',
    targets: [{ expr: `sum by (stream, label) (${rate('emostream_sink_emotions_total')})`, legendFormat: '{{stream}} {{label}}' }],
  },
  {
    title: 'Dominant emotion per stream (over the time range)',
    type: 'table',
    unit: 'short',
    description: 'The label with the most face events per stream over the selected range.',
    targets: [
      {
        expr: 'topk by (stream) (1, sum by (stream, label) (increase(emostream_sink_emotions_total[$__range])))',
        legendFormat: '{{stream}}: {{label}}',
      },
    ],
  },
  {
    title: 'Events per second per stream',
    type: 'timeseries',
    unit: 'ops',
    description: 'Public events written, per stream and type.',
    targets: [{ expr: `sum by (stream, type) (${rate('emostream_sink_events_total')})`, legendFormat: '{{stream}} {{type}}' }],
  },
  {
    title: 'Resident memory per stage',
    type: 'timeseries',
    unit: 'bytes',
    description: 'Process resident memory (Node default metrics), per stage.',
    targets: [{ expr: 'sum by (stage) (process_resident_memory_bytes{stage!=""})', legendFormat: '{{stage}}' }],
  },
];

export function buildDashboard(): Record<string, unknown> {
  return {
    title: 'EmoStream pipeline',
    uid: 'emostream-pipeline',
    tags: ['emostream'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' },
        { name: 'prefix', type: 'textbox', query: 'emostream', label: 'Topic prefix', current: { text: 'emostream', value: 'emostream' } },
      ],
    },
    panels: panels.map((panel, index) => ({
      id: index + 1,
      title: panel.title,
      description: panel.description,
      type: panel.type,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { h: 8, w: 12, x: (index % 2) * 12, y: Math.floor(index / 2) * 8 },
      fieldConfig: {
        defaults: { unit: panel.unit, ...(panel.stacked ? { custom: { stacking: { mode: 'normal' } } } : {}) },
        overrides: [],
      },
      options: panel.type === 'table' ? { showHeader: true } : { legend: { displayMode: 'table', placement: 'bottom' } },
      targets: panel.targets.map((target, i) => ({
        refId: String.fromCharCode(65 + i),
        datasource: { type: 'prometheus', uid: '${datasource}' },
        expr: target.expr,
        legendFormat: target.legendFormat,
        ...(panel.type === 'table' ? { instant: true, format: 'table' } : {}),
      })),
    })),
  };
}

export function dashboardJson(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}
