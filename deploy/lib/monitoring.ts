import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ALERTS_FILE, DASHBOARD_FILE } from './paths.js';

/** Every PromQL expression of the shipped dashboard JSON and alert rules, with where it is. */
export function shippedExpressions(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  const rules = parseYaml(readFileSync(ALERTS_FILE, 'utf8')) as { spec: { groups: { rules: { alert: string; expr: string }[] }[] } };
  return [
    ...dashboard.panels.flatMap((panel) => panel.targets.map((t) => ({ where: `dashboard panel "${panel.title}"`, expr: t.expr }))),
    ...rules.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
  ];
}

/**
 * Metrics the dashboard and alerts may read that no EmoStream process exports, each with its source.
 * Strimzi's Kafka Exporter is enabled on the dev overlay's Kafka (kafkaExporter) and scraped by the
 * PodMonitor emostream-kafka-exporter (a test checks both).
 */
export const EXTERNAL_METRICS: Record<string, string> = {
  kafka_consumergroup_lag: "Strimzi's Kafka Exporter (Kafka.spec.kafkaExporter)",
};
