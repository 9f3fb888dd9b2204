// The claims of docs/architecture.md that can be checked against the code, as one function over the
// page's text: topic names against the topic registry, public event schema versions against their
// constants, which detector-opening function the production code calls, environment variables
// against the settings' declarations (and the defaults the page quotes against the schemas'), error
// codes against ERROR_CODES, and every file and code name the page puts in backticks against the
// source tree. docs-claims.test.ts runs it on the page, and on edited copies to show that it catches
// each kind of drift.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  ALL_TOPICS,
  CONFIG_FILE_ENV,
  ERROR_CODES,
  FACE_EVENT,
  loadConfig,
  processEnvBindings,
  processSettingsSchema,
  topicName,
  TRACK_SUMMARY_EVENT,
  type EnvBinding,
} from '@emostream/shared';
import { backboneConfigSchema, backboneEnvBindings } from '@emostream/backbone';
import { faceConfigSchema, faceEnvBindings } from '@emostream/face';
import { ingestConfigSchema, ingestEnvBindings } from '@emostream/ingest';
import { sinkConfigSchema, sinkEnvBindings } from '@emostream/sink';
import { temporalConfigSchema, temporalEnvBindings } from '@emostream/temporal';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ARCHITECTURE_DOC = path.join(root, 'docs', 'architecture.md');

/** Where code lives: names and files the page quotes must be found here. */
const SOURCE_ROOTS = ['libs', 'services', 'cli', 'scripts', 'deploy', 'test', 'bench', 'docs'];
const CODE_FILE = /\.(ts|mjs|js|proto|json|md|yaml|sh)$/;
/** The prefixes of the project's environment variables (and OpenTelemetry's, which the runtime schema binds). */
const ENV_VAR = /^(EMOSTREAM|KAFKA|INGEST|FACE|BACKBONE|TEMPORAL|SINK|OTEL|FFMPEG)_[A-Z0-9_]*[A-Z0-9]$/;
/** The placeholder the page writes for the topic prefix. */
const PREFIX = '<p>';

function sourceFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) return [];
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return CODE_FILE.test(name) ? [full] : [];
  });
}

/** What the code says, gathered once: the facts the page is checked against. */
export interface CodeFacts {
  topicNames: Set<string>;
  eventSchemas: Set<string>;
  /** Functions whose name is open…Detector that production code (services, cli) calls. */
  detectorOpeners: Set<string>;
  /** Every declared environment variable with its default (undefined: none), from the schemas. */
  envDefaults: Map<string, unknown>;
  errorCodes: Set<string>;
  /** Repository-relative paths of every source file, and every folder above one. */
  paths: Set<string>;
  /** Base names of every source file. */
  fileNames: Set<string>;
  /** The text of every source file but the tests (the page's code names must occur in it; a test may quote a stale one). */
  sourceText: string;
}

const SERVICES: [z.ZodTypeAny, readonly EnvBinding[]][] = [
  [ingestConfigSchema, ingestEnvBindings],
  [faceConfigSchema, faceEnvBindings],
  [backboneConfigSchema, backboneEnvBindings],
  [temporalConfigSchema, temporalEnvBindings],
  [sinkConfigSchema, sinkEnvBindings],
  [processSettingsSchema, processEnvBindings],
];

function at(config: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config);
}

export function gatherCodeFacts(): CodeFacts {
  const envDefaults = new Map<string, unknown>();
  envDefaults.set(CONFIG_FILE_ENV, undefined);
  for (const [schema, bindings] of SERVICES) {
    // The in-memory bus: every default is filled in and nothing is required.
    const defaults: unknown = loadConfig(schema, bindings, { env: { EMOSTREAM_BUS: 'memory' }, file: '' });
    for (const binding of bindings) if (!envDefaults.has(binding.env)) envDefaults.set(binding.env, at(defaults, binding.path));
  }
  const files = SOURCE_ROOTS.flatMap((dir) => sourceFiles(path.join(root, dir)));
  const relative = files.map((f) => path.relative(root, f));
  const paths = new Set<string>();
  for (const file of relative) for (let p = file; p !== '.'; p = path.dirname(p)) paths.add(p);
  const production = files.filter((f) => /^(services\/[^/]+|cli)\/src\//.test(path.relative(root, f)) && f.endsWith('.ts'));
  const detectorOpeners = new Set<string>();
  for (const file of production) for (const m of readFileSync(file, 'utf8').matchAll(/\b(open\w*Detector)\(/g)) detectorOpeners.add(m[1]!);
  return {
    topicNames: new Set(ALL_TOPICS.map((t) => topicName(t, PREFIX))),
    eventSchemas: new Set([FACE_EVENT, TRACK_SUMMARY_EVENT]),
    detectorOpeners,
    envDefaults,
    errorCodes: new Set(Object.keys(ERROR_CODES)),
    paths,
    fileNames: new Set(relative.map((f) => path.basename(f))),
    sourceText: files
      .filter((f) => !f.endsWith('.md') && !/(^|\/)test\/|\.test\.\w+$/.test(path.relative(root, f)))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n'),
  };
}

/** A number as the page writes it ("2,000", "10_000", "0.7") as a number. */
const asNumber = (text: string) => Number(text.replace(/[,_]/g, ''));

/** Every claim of `doc` the code contradicts, one line each; empty when the page is true. */
export function architectureClaimProblems(doc: string, facts: CodeFacts): string[] {
  const problems: string[] = [];
  const quoted = [...doc.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);

  // Topic names: each one written is registered, and each registered one is written.
  const written = new Set([...doc.matchAll(/<p>\.[a-z][a-z-]*\.v\d+/g)].map((m) => m[0]));
  for (const name of written) if (!facts.topicNames.has(name)) problems.push(`topic ${name} is not in the topic registry`);
  for (const name of facts.topicNames) if (!written.has(name)) problems.push(`topic ${name} (registry) is not named on the page`);
  for (const m of doc.matchAll(/\bprefix>?\.([a-z][a-z-]*\.v\d+)/g))
    if (!facts.topicNames.has(`${PREFIX}.${m[1]}`)) problems.push(`topic <prefix>.${m[1]} is not in the topic registry`);

  // Public event schemas and their JSON Schema file.
  for (const m of doc.matchAll(/\bemostream\.event\.[a-z_]+\.v\d+/g))
    if (!facts.eventSchemas.has(m[0]))
      problems.push(`event schema ${m[0]} is not one the code writes (${[...facts.eventSchemas].join(', ')})`);

  // Which detector production code opens: the page names exactly the functions it calls.
  const named = new Set([...doc.matchAll(/\b(open\w*Detector)\b/g)].map((m) => m[1]!));
  for (const fn of named)
    if (!facts.detectorOpeners.has(fn)) problems.push(`the page says ${fn} opens detectors, but no stage or emo run calls it`);
  for (const fn of facts.detectorOpeners)
    if (!named.has(fn)) problems.push(`${fn} opens detectors in production code but the page does not say so`);

  // Environment variables are declared settings; a default the page quotes is the schema's.
  for (const token of quoted) {
    for (const name of token.match(/\b[A-Z][A-Z0-9_]+\b/g) ?? []) {
      if (ENV_VAR.test(name) && !facts.envDefaults.has(name)) problems.push(`${name} is not a declared setting (fromEnv)`);
    }
  }
  for (const m of doc.matchAll(/`?\b([A-Z][A-Z0-9_]+)\b`?\s*(?:\((\d[\d,_.]*)\)|,\s*(\d[\d,_.]*)\)?)/g)) {
    const name = m[1]!;
    const value = (m[2] ?? m[3])!.replace(/\.$/, '');
    if (!facts.envDefaults.has(name)) continue;
    const actual = facts.envDefaults.get(name);
    if (typeof actual === 'number' && actual !== asNumber(value))
      problems.push(`${name}: the page says ${value}, its default is ${actual}`);
  }

  // Error codes (upper-case names that are not variables) are codes of ERROR_CODES or names in the code.
  for (const token of quoted) {
    if (!/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(token) || ENV_VAR.test(token) || token === CONFIG_FILE_ENV) continue;
    if (!facts.errorCodes.has(token) && !new RegExp(`\\b${token}\\b`).test(facts.sourceText))
      problems.push(`${token} is neither an error code nor a name in the code`);
  }

  // Files and folders: a path resolves from the root or a package's src; a bare file name exists somewhere.
  const packageRoots = [...facts.paths].filter((p) => /^(libs|services)\/[^/]+\/src$|^cli\/src$|^(libs|services)\/[^/]+$/.test(p));
  for (const token of quoted) {
    // ./main, ./testing: a package's export paths; ../shared/data: beside the checkout, not in it.
    if (token.startsWith('./') || token.startsWith('../')) continue;
    const file = token.replace(/\/$/, '');
    if (!/^[\w.@-]+(\/[\w.@<>-]+)*\.(ts|mjs|js|proto|json|md|yaml)$|^[\w.-]+(\/[\w.-]+)+$/.test(file)) continue;
    if (file.includes('<')) continue; // a pattern (services/<stage>/src/), not a file
    if (!file.includes('/')) {
      // A file the programs write (run.json, a pack's manifest.json) is named in the code as a string.
      const written = facts.sourceText.includes(`'${file}'`) || facts.sourceText.includes(`"${file}"`);
      if (!facts.fileNames.has(file) && !written) problems.push(`file ${file} is nowhere in the source tree`);
      continue;
    }
    const found = facts.paths.has(file) || packageRoots.some((r) => facts.paths.has(`${r}/${file}`));
    if (!found && !/^@emostream\//.test(file)) problems.push(`path ${token} does not exist`);
  }

  // Code names (camelCase or PascalCase identifiers, with a call or not) occur in the code.
  for (const token of quoted) {
    const name = /^([A-Za-z_$][\w$]*)(\(\))?$/.exec(token)?.[1];
    if (!name || !/[a-z][A-Z]|^[A-Z][a-z]+[A-Z]/.test(name)) continue;
    if (!new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`).test(facts.sourceText)) problems.push(`${name} is not a name in the code`);
  }
  return [...new Set(problems)];
}
