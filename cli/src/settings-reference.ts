import { envBindingsOf, processEnvBindings, runtimeEnvBindings, type EnvBinding } from '@emostream/shared';
import { modelSettingsSchema } from '@emostream/vision';
import { backboneEnvBindings } from '@emostream/backbone';
import { faceEnvBindings } from '@emostream/face';
import { ingestEnvBindings } from '@emostream/ingest';
import { sinkEnvBindings } from '@emostream/sink';
import { temporalEnvBindings } from '@emostream/temporal';

/** One group of settings: who reads them, and their variables as the schemas declare them. */
export interface SettingsSection {
  readonly title: string;
  readonly bindings: readonly EnvBinding[];
}

/** The sections shared by several stages are listed once, so a stage lists only its own. */
const own = (bindings: readonly EnvBinding[]) => bindings.filter((b) => !/^(runtime|model)\./.test(b.path));

/**
 * Every setting with its variable, grouped by who reads it: all read from the schemas' declarations
 * (`fromEnv`), so docs/settings.md and `emo serve --help` cannot list a variable no schema binds.
 */
export function settingsSections(): SettingsSection[] {
  return [
    { title: 'Every process (the logger, ffmpeg, Python)', bindings: processEnvBindings },
    { title: 'Every stage (bus, delivery, ops endpoints, shutdown)', bindings: runtimeEnvBindings },
    { title: 'Model-using stages (face, backbone, temporal)', bindings: envBindingsOf(modelSettingsSchema) },
    { title: 'ingest', bindings: own(ingestEnvBindings) },
    { title: 'face', bindings: own(faceEnvBindings) },
    { title: 'backbone', bindings: own(backboneEnvBindings) },
    { title: 'temporal', bindings: own(temporalEnvBindings) },
    { title: 'sink', bindings: own(sinkEnvBindings) },
  ];
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** docs/settings.md: a table per section (variable, config file path, default, meaning). */
export function settingsMarkdown(sections: readonly SettingsSection[] = settingsSections()): string {
  const lines = [
    '# Settings by environment variable',
    '',
    '<!-- Generated from the settings declarations (fromEnv in the zod schemas) by `npm run docs:settings`;',
    '     cli/test/settings-doc.test.ts fails when this page is stale. Edit the schemas, not this page. -->',
    '',
    'Every setting of the services and of `emo run`, read from the schemas that validate them. A setting',
    'can also be given in the YAML file that `EMOSTREAM_CONFIG` names, at its path (a service nests the',
    'shared sections as `runtime:` and `model:`); the environment wins. Secrets are never printed.',
  ];
  for (const section of sections) {
    lines.push('', `## ${section.title}`, '', '| variable | path | default | meaning |', '|---|---|---|---|');
    for (const b of section.bindings) {
      const shown = b.shownDefault === undefined ? '–' : b.shownDefault === '' ? '(empty)' : `\`${cell(b.shownDefault)}\``;
      const meaning = `${cell(b.meaning ?? '')}${b.secret ? ' (secret)' : ''}`;
      lines.push(`| \`${b.env}\` | \`${b.path}\` | ${shown} | ${meaning} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The variables for `emo serve --help`: names by section; their meanings are in docs/settings.md. */
export function settingsHelp(sections: readonly SettingsSection[] = settingsSections()): string {
  const lines = ['', 'Settings (environment variables, or the EMOSTREAM_CONFIG file; meanings and defaults: docs/settings.md):'];
  for (const section of sections) lines.push(`  ${section.title}:`, wrap(section.bindings.map((b) => b.env)));
  return lines.join('\n');
}

function wrap(names: readonly string[], width = 100, indent = '    '): string {
  const out: string[] = [];
  let line = indent;
  for (const name of names) {
    const next = line === indent ? `${line}${name}` : `${line}, ${name}`;
    if (next.length > width && line !== indent) {
      out.push(`${line},`);
      line = `${indent}${name}`;
    } else line = next;
  }
  out.push(line);
  return out.join('\n');
}
