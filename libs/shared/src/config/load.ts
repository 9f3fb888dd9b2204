import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, describeConfigProblem, type ConfigProblem } from '../errors.js';

/** Where one config field can come from in the environment. */
export interface EnvBinding {
  /** Environment variable name, e.g. KAFKA_BROKERS. */
  env: string;
  /** Dotted path in the config object, e.g. kafka.brokers. */
  path: string;
  /** Secrets are never echoed in error messages. */
  secret?: boolean;
  /** What the setting means (the field's description): the fix an error suggests. */
  meaning?: string;
  /** Its default as the docs show it (the schema's, or what the declaration says for one set at run time); none: no default. */
  shownDefault?: string;
}

/** The environment variable a schema field is declared with (see `fromEnv`). */
export interface EnvVariable {
  readonly env: string;
  readonly secret?: boolean;
  /** The default as the docs should show it, for one computed where the process runs (the host name, a path). */
  readonly shownDefault?: string;
}

const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
/**
 * The registry of declared variables: schema instance → its variable. A registry rather than a
 * pattern over the description, so a setting's variable is data that cannot be misspelt into prose,
 * and the docs, `--help` and the loader all read the same declaration.
 */
const declaredVariables = new WeakMap<z.ZodTypeAny, EnvVariable>();

/**
 * Declares the environment variable that sets a schema field, and returns the field:
 * `minFaceSize: fromEnv('FACE_MIN_SIZE', z.coerce.number().default(10).describe('Smallest face…'))`.
 * Declare it on the field as it sits in its object (after `.default()`/`.describe()`, which make new
 * schema instances); a discriminated union declares the variable of its discriminator.
 */
export function fromEnv<T extends z.ZodTypeAny>(env: string, schema: T, options: Omit<EnvVariable, 'env'> = {}): T {
  if (!ENV_NAME.test(env)) throw new Error(`fromEnv: "${env}" is not an environment variable name (A-Z, 0-9, _)`);
  if (declaredVariables.has(schema)) throw new Error(`fromEnv(${env}): this schema already has ${declaredVariables.get(schema)!.env}`);
  declaredVariables.set(schema, { env, ...options });
  return schema;
}

/** The variable declared on a field, looking through defaults, optionals and refinements. */
export function declaredVariableOf(schema: z.ZodTypeAny): EnvVariable | undefined {
  for (let s: z.ZodTypeAny | undefined = schema; s; s = innerOf(s)) {
    const declared = declaredVariables.get(s);
    if (declared) return declared;
  }
  return undefined;
}

/**
 * The environment bindings of a config schema, read from the variables its fields declare with
 * `fromEnv`: each is bound at its field's path, with the field's description as its meaning. One
 * source of truth: a setting is documented, bound and validated where it is declared. A
 * discriminated union binds its discriminator from the union's own declaration and the fields of
 * every option. The same variable declared at two paths is an error (which one would win?).
 */
export function envBindingsOf(schema: z.ZodTypeAny, at: readonly string[] = []): EnvBinding[] {
  const bindings: EnvBinding[] = [];
  const add = (binding: EnvBinding) => {
    const twin = bindings.find((b) => b.env === binding.env);
    if (twin && twin.path !== binding.path) throw new Error(`${binding.env} is declared at both ${twin.path} and ${binding.path}`);
    if (!twin) bindings.push(binding);
  };
  const inner = unwrapSchema(schema);
  const own = declaredVariableOf(schema);
  const extras = own ? { ...(own.secret ? { secret: true } : {}), ...meaningOf(schema) } : {};
  const shown = (value: unknown) => (own?.shownDefault !== undefined ? { shownDefault: own.shownDefault } : shownValue(value));
  if (inner instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodTypeAny>)) envBindingsOf(child, [...at, key]).forEach(add);
  } else if (inner instanceof z.ZodDiscriminatedUnion) {
    const union = inner as z.ZodDiscriminatedUnion<string, z.ZodObject<z.ZodRawShape>[]>;
    const fallback = defaultOf(schema) as Record<string, unknown> | undefined;
    if (own) add({ env: own.env, path: [...at, union.discriminator].join('.'), ...extras, ...shown(fallback?.[union.discriminator]) });
    for (const option of union.options) envBindingsOf(option, at).forEach(add);
  } else if (own) {
    add({ env: own.env, path: at.join('.'), ...extras, ...shown(defaultOf(schema)) });
  }
  return bindings;
}

/** The value a field's `.default()` gives (through its wrappers); undefined: it has none. */
function defaultOf(schema: z.ZodTypeAny): unknown {
  for (let s: z.ZodTypeAny | undefined = schema; s; s = innerOf(s)) {
    if (s instanceof z.ZodDefault) return (s._def as { defaultValue: () => unknown }).defaultValue();
  }
  return undefined;
}

/** A default as an environment variable would spell it: lists comma-separated, an empty one as "" (none). */
function shownValue(value: unknown): Pick<EnvBinding, 'shownDefault'> {
  if (value === undefined) return {};
  if (Array.isArray(value)) return { shownDefault: value.join(',') };
  // A scalar as it is; anything else as JSON, never "[object Object]".
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return { shownDefault: String(value) };
  return { shownDefault: JSON.stringify(value) };
}

/** A field's description (the first found through its wrappers), without its final full stop. */
function meaningOf(schema: z.ZodTypeAny): Pick<EnvBinding, 'meaning'> {
  for (let s: z.ZodTypeAny | undefined = schema; s; s = innerOf(s)) {
    if (s.description) return { meaning: s.description.trim().replace(/[.\s]+$/, '') };
  }
  return {};
}

function innerOf(schema: z.ZodTypeAny): z.ZodTypeAny | undefined {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional || schema instanceof z.ZodNullable)
    return schema._def.innerType as z.ZodTypeAny;
  if (schema instanceof z.ZodEffects) return schema._def.schema as z.ZodTypeAny;
  return undefined;
}

function unwrapSchema(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (let next = innerOf(s); next; next = innerOf(s)) s = next;
  return s;
}

/** The environment variable that names an optional YAML config file. */
export const CONFIG_FILE_ENV = 'EMOSTREAM_CONFIG';

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** A YAML file whose values sit below the environment's. Defaults to $EMOSTREAM_CONFIG. */
  file?: string;
  /** Values set by code (e.g. the CLI's flags); they win over the environment. */
  overrides?: Record<string, unknown>;
}

/**
 * Builds a config object from, lowest to highest precedence, the YAML file, the environment and
 * explicit overrides, then validates it with `schema` (a strict zod schema). Fails with a
 * ConfigError listing every bad path and where it can be set; secret values are never printed.
 */
export function loadConfig<S extends z.ZodTypeAny>(
  schema: S,
  bindings: readonly EnvBinding[],
  options: LoadConfigOptions = {},
): z.infer<S> {
  const env = options.env ?? process.env;
  const file = options.file ?? env[CONFIG_FILE_ENV];
  const raw: Record<string, unknown> = file ? readYamlFile(file) : {};
  for (const binding of bindings) {
    const value = env[binding.env];
    if (value !== undefined && value !== '') setPath(raw, binding.path, value);
  }
  deepMerge(raw, options.overrides ?? {});

  let result = schema.safeParse(raw);
  // A required section that nothing set (a service's `runtime`) is absent, and zod says only
  // "runtime: Required": give it an empty object and parse again, so the problems are the fields
  // inside it, each with its variable (KAFKA_BROKERS).
  for (let round = 0; round < 5 && !result.success; round++) {
    const absent = result.error.issues
      .filter((issue) => issue.code === 'invalid_type' && issue.received === 'undefined')
      .map((issue) => issue.path.join('.'))
      .filter((at) => at !== '' && bindings.some((b) => b.path.startsWith(`${at}.`)));
    if (absent.length === 0) break;
    for (const at of absent) setPath(raw, at, {});
    result = schema.safeParse(raw);
  }
  if (result.success) return result.data as z.infer<S>;
  const problems = describeIssues(result.error, bindings, env, raw);
  const source = file ? ` (file ${file} and environment)` : ' (environment)';
  const message =
    problems.length === 1
      ? `invalid configuration${source}: ${describeConfigProblem(problems[0]!)}`
      : `invalid configuration${source}, ${problems.length} problems:\n${problems.map((p) => `  - ${describeConfigProblem(p)}`).join('\n')}`;
  throw new ConfigError(message, problems);
}

function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    // yaml (~50 ms to load) only when there is a config file: most processes have none.
    parsed = (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a mapping at the top level`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Each issue as a problem that names its variable and what is wrong with the value:
 * "KAFKA_BROKERS is not set (Required when bus is kafka)", "EMOSTREAM_OPS_PORT="abc" is not valid
 * (Expected number, received nan)", with the setting's meaning as the fix. Secret values never appear.
 */
function describeIssues(
  error: z.ZodError,
  bindings: readonly EnvBinding[],
  env: NodeJS.ProcessEnv,
  raw: Record<string, unknown>,
): ConfigProblem[] {
  return error.issues.map((issue) => {
    const path = issue.path.join('.') || '(root)';
    const binding = bindings.find((b) => b.path === path);
    const secret = bindings.some((b) => b.secret && (path === b.path || path.startsWith(`${b.path}.`)));
    // Neither the environment nor the file set it.
    const absent = getPath(raw, issue.path) === undefined;
    // Zod's messages can quote the received value (enums, literals): hide it for secrets.
    const reason = secret && !absent ? 'invalid value (secret, not shown)' : issue.message;
    if (!binding) return { path, problem: `${path}: ${reason}` };
    const value = env[binding.env];
    const fromEnv = value !== undefined && value !== '';
    const what = absent
      ? `${binding.env} is not set`
      : !fromEnv
        ? `${path} (config file; env ${binding.env}) is not valid`
        : secret
          ? `${binding.env} is not valid`
          : `${binding.env}=${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)} is not valid`;
    const detail = reason === 'Required' && absent ? '' : ` (${reason})`;
    return { path, env: binding.env, problem: `${what}${detail}`, ...(binding.meaning ? { fix: binding.meaning } : {}) };
  });
}

function getPath(target: Record<string, unknown>, keys: readonly (string | number)[]): unknown {
  let node: unknown = target;
  for (const key of keys) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) deepMerge(existing, value);
    else target[key] = value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A boolean that also accepts the strings an environment variable holds: true/false, 1/0, yes/no. */
export const envBoolean = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  const lowered = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(lowered)) return true;
  if (['false', '0', 'no'].includes(lowered)) return false;
  return value;
}, z.boolean());
