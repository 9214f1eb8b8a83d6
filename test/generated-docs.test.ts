import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCatalog, renderErrorDocs } from '@edgeward/core';

test('docs/errors.md lists every error code as the catalog defines it (run `npm run docs` to refresh)', () => {
  const committed = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  assert.equal(committed, renderErrorDocs());
  for (const code of Object.keys(errorCatalog)) assert.match(committed, new RegExp(`\`${code}\``));
});

test('every error code used in the sources is defined in the catalog', async () => {
  const { readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const root = new URL('../packages/', import.meta.url).pathname;
  const used = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'fixtures') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const match of readFileSync(path, 'utf8').matchAll(/'(EW_[A-Z0-9_]+)'/g))
          used.add(match[1] ?? '');
      }
    }
  };
  walk(root);
  const unknown = [...used].filter((code) => !Object.hasOwn(errorCatalog, code));
  assert.deepEqual(unknown, []);
});
