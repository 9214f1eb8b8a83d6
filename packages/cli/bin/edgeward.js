#!/usr/bin/env node
// Launcher: the sources are TypeScript run by Node 24 directly. When an older Node on the PATH starts this
// file (npx outside an npm script, a system Node), hand over to the Node 24 that the project pins.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major >= 24) {
  await import('../src/main.ts');
} else {
  const require = createRequire(import.meta.url);
  let pinned;
  try {
    pinned = require.resolve('node/bin/node');
  } catch {
    process.stderr.write(
      `edgeward needs Node.js 24 (this is ${process.version}); run 'npm ci' in the project to install it.\n`,
    );
    process.exit(1);
  }
  const result = spawnSync(
    pinned,
    [new URL('../src/main.ts', import.meta.url).pathname, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  process.exit(result.status ?? 1);
}
