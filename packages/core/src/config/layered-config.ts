import * as z from 'zod/mini';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { useEnglishSchemaMessages } from '../validation/schema-messages.ts';

/**
 * One typed configuration per program, validated once at start. Layers apply in order — defaults (in the
 * schema), the file, the environment, then flags — and a later layer wins key by key.
 */
export interface ConfigLayer {
  /** Where these values came from, for error messages: `file edgeward.yaml`, `environment`, `flags`. */
  readonly source: string;
  readonly values: Record<string, unknown>;
}

/**
 * Parses a YAML configuration file. The YAML parser is loaded here, on first use, so that a device
 * started without a configuration file never loads it.
 */
export async function parseConfigFile(text: string, fileName: string): Promise<ConfigLayer> {
  const { parse: parseYaml } = await import('yaml');
  let values: unknown;
  try {
    values = parseYaml(text);
  } catch (error) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `${fileName} is not valid YAML: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (values === null || values === undefined) return { source: `file ${fileName}`, values: {} };
  if (typeof values !== 'object' || Array.isArray(values)) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `${fileName} must hold a mapping of setting names to values`,
    );
  }
  return { source: `file ${fileName}`, values: values as Record<string, unknown> };
}

/**
 * Reads settings from environment variables: `EDGEWARD_DATA_DIR` sets `dataDir`. A `*_FILE` variable
 * (`EDGEWARD_DATABASE_FILE`) names a file holding the value, for secrets; `readFile` is passed in so this
 * module does no I/O itself.
 */
export function environmentLayer(
  env: Record<string, string | undefined>,
  keys: readonly string[],
  readFile: (path: string) => string,
): ConfigLayer {
  const values: Record<string, unknown> = {};
  for (const key of keys) {
    const name = `EDGEWARD_${key.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
    const direct = env[name];
    const fromFile = env[`${name}_FILE`];
    if (direct !== undefined && direct !== '') values[key] = direct;
    else if (fromFile !== undefined && fromFile !== '') {
      try {
        values[key] = readFile(fromFile).trim();
      } catch (error) {
        throw new EdgewardError('EW_CONFIG_INVALID', `${name}_FILE names ${fromFile}, which cannot be read`, {
          cause: error,
        });
      }
    }
  }
  return { source: 'environment', values };
}

export function resolveConfig<Schema extends z.core.$ZodType>(
  schema: Schema,
  layers: readonly ConfigLayer[],
): z.output<Schema> {
  const merged: Record<string, unknown> = {};
  const sourceOf = new Map<string, string>();
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.values)) {
      if (value === undefined) continue;
      merged[key] = value;
      sourceOf.set(key, layer.source);
    }
  }
  useEnglishSchemaMessages();
  const result = z.safeParse(schema, merged);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join('.') || '(root)';
    const source = sourceOf.get(String(issue.path[0] ?? '')) ?? 'defaults';
    return `${key} (from ${source}): ${issue.message}`;
  });
  throw new EdgewardError('EW_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, {
    details: { problems },
  });
}

/** A list setting: an array in a file, comma-separated in the environment or on the command line. */
export const commaSeparatedList = z.pipe(
  z.transform((value: unknown) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean)
      : value,
  ),
  z.array(z.string()),
);
