import manifest from '../package.json' with { type: 'json' };

/** The release version, from this package's package.json (inlined into the device bundle). */
export const EDGEWARD_VERSION: string = manifest.version;
