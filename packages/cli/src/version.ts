import { readFileSync } from 'node:fs';

/** The release version, from this package's package.json. */
export const EDGEWARD_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
