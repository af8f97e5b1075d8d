import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART } from './helm.ts';

// The chart's PromQL, as it ships: the dashboard's queries and the alerts.
// Shared by the chart's Prometheus test and the end-to-end scenario.

/** The Prometheus job names the chart's ServiceMonitors give (jobLabel selectiveksm.io/job). */
export const JOBS = { operator: 'selective-ksm-operator', agent: 'selective-ksm-agent' } as const;

/** What Grafana's $__rate_interval becomes here: long enough for a few 1-2 s scrapes. */
export const RATE_WINDOW = '1m';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
}

/** Every query of files/dashboard.json, by panel, with $__rate_interval made concrete. */
export async function dashboardQueries(): Promise<{ panel: string; expr: string }[]> {
  const dashboard = JSON.parse(await readFile(join(CHART, 'files', 'dashboard.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title,
      expr: t.expr.replaceAll('$__rate_interval', RATE_WINDOW),
    })),
  );
}

/** Every rule of files/alerts.yaml. */
export async function alertRules(): Promise<AlertRule[]> {
  const file = parse(await readFile(join(CHART, 'files', 'alerts.yaml'), 'utf8')) as {
    groups: { rules: AlertRule[] }[];
  };
  return file.groups.flatMap((g) => g.rules);
}
