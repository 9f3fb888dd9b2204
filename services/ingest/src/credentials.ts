import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SourceRefusedError } from './source-policy.js';

/**
 * Camera credentials by reference, so they live in a Kubernetes Secret and never in the streams
 * topic (which is compacted: a URL written there is kept forever). A URL names them as
 *   rtsp://viewer:${env:INGEST_CREDENTIAL_DOOR}@door-cam/live       (an env var of the ingest pod)
 *   http://cam/mjpeg?token=${file:yard-token}                        (a file in INGEST_CREDENTIALS_DIR)
 * Only env vars named INGEST_CREDENTIAL_* and plain file names in the credentials folder can be
 * named: a spec must not be able to send, say, the Kafka password to a host it chooses.
 */
const REFERENCE = /\$\{(env|file):([^}]*)\}/g;
const CREDENTIAL_ENV = /^INGEST_CREDENTIAL_[A-Z0-9_]{1,64}$/;
const CREDENTIAL_FILE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export function hasCredentialReferences(url: string): boolean {
  return /\$\{(env|file):/.test(url);
}

/** The URL with every reference replaced by its (URL-encoded) value. Throws SourceRefusedError for an unknown or forbidden one. */
export function resolveCredentialReferences(url: string, options: { credentialsDir: string; env?: NodeJS.ProcessEnv }): string {
  const env = options.env ?? process.env;
  return url.replace(REFERENCE, (_match, kind: string, name: string) => {
    if (kind === 'env') {
      if (!CREDENTIAL_ENV.test(name))
        throw new SourceRefusedError(
          'CREDENTIAL_UNAVAILABLE',
          `credential reference \${env:${name.slice(0, 80)}} refused: only env vars named INGEST_CREDENTIAL_*`,
        );
      const value = env[name];
      if (value === undefined || value === '')
        throw new SourceRefusedError('CREDENTIAL_UNAVAILABLE', `credential \${env:${name}} is not set in ingest's environment`);
      return encodeURIComponent(value);
    }
    if (!CREDENTIAL_FILE.test(name))
      throw new SourceRefusedError(
        'CREDENTIAL_UNAVAILABLE',
        `credential reference \${file:${name.slice(0, 80)}} refused: a plain file name in INGEST_CREDENTIALS_DIR`,
      );
    try {
      return encodeURIComponent(readFileSync(path.join(options.credentialsDir, name), 'utf8').trim());
    } catch {
      throw new SourceRefusedError('CREDENTIAL_UNAVAILABLE', `credential \${file:${name}} is not readable in ${options.credentialsDir}`);
    }
  });
}
