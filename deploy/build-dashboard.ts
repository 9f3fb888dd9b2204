/** `npm run deploy:dashboard`: writes the Grafana dashboard JSON that the base kustomization ships. */
import { writeFileSync } from 'node:fs';
import { DASHBOARD_FILE } from './lib/paths.js';
import { dashboardJson } from './lib/dashboard.js';

writeFileSync(DASHBOARD_FILE, dashboardJson());
console.log(`wrote ${DASHBOARD_FILE}`);
