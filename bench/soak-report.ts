/**
 * The soak benchmark's arithmetic: samples every `interval` seconds, the verdicts ("RSS after
 * warm-up grows ≤ 10 %", "lag stays bounded") and a small SVG chart of both over time. Kept apart
 * from the runner so the rules read in one place.
 */
import { readFileSync } from 'node:fs';

/** One sample of one phase: what each process held and how far behind the pipeline was. */
export interface SoakSample {
  /** Seconds since the phase started. */
  t: number;
  /** Resident set size per process, MiB (its own; children such as ffmpeg in `childrenRssMiB`). */
  rssMiB: Record<string, number>;
  childrenRssMiB: Record<string, number>;
  /** The V8 heap in use per process, MiB (services: from /metrics), to tell a JavaScript leak from allocator slack. */
  heapUsedMiB: Record<string, number>;
  /** The V8 heap reserved (used + free pages) and the memory of Buffers and other objects outside it, MiB (services). */
  heapTotalMiB?: Record<string, number>;
  externalMiB?: Record<string, number>;
  /** Capture → event at the downstream reader, over the events that arrived since the previous sample. */
  eventLag: { count: number; p50Ms: number | null; maxMs: number | null };
  /** Records each stage's consumer group has not committed yet (services only; null while the broker is away). */
  backlog: Record<string, number | null>;
  /** /readyz per process at this instant (services only). */
  ready: Record<string, number | 'refused'>;
}

export interface Verdict {
  process: string;
  check: string;
  pass: boolean;
  detail: string;
}

export interface PhaseWindow {
  /** Seconds from the phase start: samples before this are warm-up. */
  warmupEndS: number;
  /** The broker outage, if any: [start, end] in seconds from the phase start. */
  outage?: { startS: number; endS: number };
}

export const RSS_GROWTH_LIMIT = 0.1;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
};

/**
 * RSS after warm-up grows ≤ 10 %: the median of the last three samples against the median of the
 * first three after warm-up (medians, so one garbage-collection peak neither passes nor fails it).
 */
export function rssVerdict(process: string, samples: SoakSample[], window: PhaseWindow): Verdict {
  const series = samples.filter((s) => s.t >= window.warmupEndS && s.rssMiB[process] !== undefined).map((s) => s.rssMiB[process]!);
  if (series.length < 6) {
    return {
      process,
      check: 'RSS after warm-up grows ≤ 10 %',
      pass: false,
      detail: `only ${series.length} samples after warm-up (need 6)`,
    };
  }
  const start = median(series.slice(0, 3));
  const end = median(series.slice(-3));
  const growth = end / start - 1;
  const startAndEnd = (pick: (s: SoakSample) => Record<string, number> | undefined, label: string): string => {
    const values = samples.filter((s) => s.t >= window.warmupEndS && pick(s)?.[process] !== undefined).map((s) => pick(s)![process]!);
    return values.length >= 6 ? `; ${label} ${median(values.slice(0, 3)).toFixed(0)} → ${median(values.slice(-3)).toFixed(0)} MiB` : '';
  };
  const heapDetail =
    startAndEnd((s) => s.heapUsedMiB, 'JS heap used') +
    startAndEnd((s) => s.heapTotalMiB, 'JS heap reserved') +
    startAndEnd((s) => s.externalMiB, 'external');
  return {
    process,
    check: 'RSS after warm-up grows ≤ 10 %',
    pass: growth <= RSS_GROWTH_LIMIT,
    detail: `${start.toFixed(0)} → ${end.toFixed(0)} MiB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %), peak ${Math.max(...series).toFixed(0)} MiB${heapDetail}`,
  };
}

/**
 * A lag series stays bounded: after warm-up, outside the outage and its recovery, every sample is
 * at most max(3 × the steady median, median + `slack`); the recovery (first sample back under the
 * bound after the outage) must happen before the run ends. `value` picks the series (null = no
 * reading at that sample, e.g. no event arrived: that fails a steady sample, as nothing flowed).
 */
export function lagVerdict(
  process: string,
  check: string,
  samples: SoakSample[],
  window: PhaseWindow,
  value: (s: SoakSample) => number | null,
  slack: number,
  unit: string,
): Verdict {
  const afterWarmup = samples.filter((s) => s.t >= window.warmupEndS);
  const before = window.outage ? afterWarmup.filter((s) => s.t < window.outage!.startS) : afterWarmup;
  const baselineSeries = (before.length >= 2 ? before : afterWarmup).map(value).filter((v): v is number => v !== null);
  if (baselineSeries.length === 0) return { process, check, pass: false, detail: 'no reading after warm-up' };
  const baseline = median(baselineSeries);
  const bound = Math.max(3 * baseline, baseline + slack);
  const within = (s: SoakSample) => value(s) !== null && value(s)! <= bound;
  let steady = before;
  let recovery = '';
  if (window.outage) {
    const after = afterWarmup.filter((s) => s.t > window.outage!.endS);
    const back = after.findIndex(within);
    if (back < 0) {
      return {
        process,
        check,
        pass: false,
        detail: `never back under ${bound.toFixed(0)} ${unit} after the outage (median before ${baseline.toFixed(0)})`,
      };
    }
    steady = [...before, ...after.slice(back)];
    recovery = `; back under the bound ${(after[back]!.t - window.outage.endS).toFixed(0)} s after the broker returned`;
  }
  const worst = steady.map(value).reduce<number | null>((m, v) => (v === null ? m : m === null ? v : Math.max(m, v)), null);
  const outside = steady.filter((s) => !within(s));
  return {
    process,
    check,
    pass: outside.length === 0,
    detail:
      `steady median ${baseline.toFixed(0)} ${unit}, worst ${worst === null ? 'none' : worst.toFixed(0)} ${unit}, bound ${bound.toFixed(0)} ${unit}` +
      (outside.length > 0
        ? `; ${outside.length} sample(s) over it or without a reading (t = ${outside.map((s) => s.t).join(', ')} s)`
        : '') +
      recovery,
  };
}

/** The previous results file's phases, so a run of one phase (`--only`) keeps the other's. */
export function previousPhases(file: string): Record<string, unknown> {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { phases?: Record<string, unknown> }).phases ?? {};
  } catch {
    return {};
  }
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/**
 * Two stacked line charts per phase — RSS (MiB) per process, and the event lag (p50 per sample, s) —
 * with the warm-up and the outage shaded. Plain SVG: a results file people can open anywhere.
 */
export function soakChart(phases: { title: string; samples: SoakSample[]; window: PhaseWindow }[]): string {
  const width = 900;
  const panelHeight = 200;
  const margin = { left: 60, right: 170, top: 30, bottom: 30 };
  const panels: string[] = [];
  let y0 = 0;
  for (const phase of phases) {
    const series: { title: string; unit: string; lines: { name: string; points: [number, number | null][] }[] }[] = [
      {
        title: `${phase.title}: RSS per process (MiB)`,
        unit: 'MiB',
        lines: Object.keys(phase.samples[0]?.rssMiB ?? {}).map((name) => ({
          name,
          points: phase.samples.map((s) => [s.t, s.rssMiB[name] ?? null]),
        })),
      },
      {
        title: `${phase.title}: event lag, capture → event (p50 per sample, s)`,
        unit: 's',
        lines: [
          { name: 'event lag p50', points: phase.samples.map((s) => [s.t, s.eventLag.p50Ms === null ? null : s.eventLag.p50Ms / 1000]) },
        ],
      },
    ];
    const tMax = Math.max(1, ...phase.samples.map((s) => s.t));
    for (const panel of series) {
      const values = panel.lines.flatMap((l) => l.points.map(([, v]) => v)).filter((v): v is number => v !== null);
      const vMax = Math.max(1, ...values) * 1.1;
      const plotW = width - margin.left - margin.right;
      const plotH = panelHeight - margin.top - margin.bottom;
      const x = (t: number) => margin.left + (t / tMax) * plotW;
      const y = (v: number) => y0 + margin.top + plotH - (v / vMax) * plotH;
      const parts: string[] = [`<text x="${margin.left}" y="${y0 + 18}" font-size="13" font-weight="bold">${escape(panel.title)}</text>`];
      parts.push(shade(x(0), x(phase.window.warmupEndS), y(vMax), y(0), '#eeeeee', 'warm-up'));
      if (phase.window.outage)
        parts.push(shade(x(phase.window.outage.startS), x(phase.window.outage.endS), y(vMax), y(0), '#fde0dd', 'broker down'));
      parts.push(`<line x1="${x(0)}" y1="${y(0)}" x2="${x(tMax)}" y2="${y(0)}" stroke="#333"/>`);
      parts.push(`<line x1="${x(0)}" y1="${y(0)}" x2="${x(0)}" y2="${y(vMax)}" stroke="#333"/>`);
      for (const tick of [0, 0.5, 1]) {
        parts.push(
          `<text x="${x(0) - 5}" y="${y(tick * vMax) + 4}" font-size="10" text-anchor="end">${(tick * vMax).toFixed(vMax < 10 ? 1 : 0)}</text>`,
        );
        parts.push(
          `<text x="${x(tick * tMax)}" y="${y(0) + 14}" font-size="10" text-anchor="middle">${((tick * tMax) / 60).toFixed(1)} min</text>`,
        );
      }
      panel.lines.forEach((line, i) => {
        const colour = COLOURS[i % COLOURS.length]!;
        // A gap where there was no reading (the broker away, no event arrived).
        const segments: string[][] = [[]];
        for (const [t, v] of line.points) {
          if (v === null) segments.push([]);
          else segments.at(-1)!.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
        }
        for (const segment of segments.filter((s) => s.length > 0)) {
          parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${segment.join(' ')}"/>`);
        }
        const ly = y0 + margin.top + 14 * i;
        parts.push(
          `<line x1="${width - margin.right + 10}" y1="${ly}" x2="${width - margin.right + 30}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`,
        );
        parts.push(`<text x="${width - margin.right + 35}" y="${ly + 4}" font-size="11">${escape(line.name)}</text>`);
      });
      panels.push(parts.join('\n'));
      y0 += panelHeight;
    }
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y0}" viewBox="0 0 ${width} ${y0}" font-family="sans-serif">`,
    `<rect width="${width}" height="${y0}" fill="white"/>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}

function shade(x1: number, x2: number, yTop: number, yBottom: number, colour: string, label: string): string {
  if (x2 <= x1) return '';
  return (
    `<rect x="${x1}" y="${yTop}" width="${x2 - x1}" height="${yBottom - yTop}" fill="${colour}"/>` +
    `<text x="${(x1 + x2) / 2}" y="${yTop + 12}" font-size="10" text-anchor="middle" fill="#777">${label}</text>`
  );
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}
