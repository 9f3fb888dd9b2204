import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEPLOY_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(DEPLOY_DIR, '..');
export const K8S_DIR = path.join(DEPLOY_DIR, 'k8s');
export const OVERLAYS = ['dev', 'gpu'] as const;
export type Overlay = (typeof OVERLAYS)[number];
export const DASHBOARD_FILE = path.join(K8S_DIR, 'base', 'monitoring', 'emostream-dashboard.json');
export const ALERTS_FILE = path.join(K8S_DIR, 'base', 'monitoring', 'alerts.yaml');
export const OPERATIONS_GUIDE = path.join(REPO_ROOT, 'docs', 'operations.md');
