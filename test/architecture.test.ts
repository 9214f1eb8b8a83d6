import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';

/**
 * The dependency rules of ARCHITECTURE.md, checked on every import and re-export of every source file:
 * core does no I/O and imports no other package; the agent never reaches the manager or the PostgreSQL
 * engine; the manager never imports the agent; nothing deep-imports another package or climbs out of its
 * own; a package imports only what its package.json declares.
 */
const root = resolve(new URL('..', import.meta.url).pathname);
const packagesDir = join(root, 'packages');

interface SourceImport {
  readonly file: string;
  readonly pkg: string;
  readonly specifier: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === 'node_modules' || entry.name === 'fixtures' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.includes('.fixture.')
      ? [path]
      : [];
  });
}

function importsOf(): SourceImport[] {
  const found: SourceImport[] = [];
  for (const pkg of readdirSync(packagesDir)) {
    for (const file of sourceFiles(join(packagesDir, pkg, 'src'))) {
      const text = readFileSync(file, 'utf8');
      const pattern =
        /(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;
      for (const match of text.matchAll(pattern)) {
        found.push({ file: relative(root, file), pkg, specifier: match[1] ?? match[2] ?? match[3] ?? '' });
      }
    }
  }
  return found;
}

const allImports = importsOf();
const violations = (predicate: (entry: SourceImport) => boolean) =>
  allImports.filter(predicate).map((entry) => `${entry.file} imports ${entry.specifier}`);

test('the import scanner sees the imports it is meant to check', () => {
  assert.ok(allImports.some((entry) => entry.pkg === 'manager' && entry.specifier === '@edgeward/core'));
  assert.ok(allImports.some((entry) => entry.pkg === 'agent' && entry.specifier === 'node:https'));
});

test('core does no I/O: no filesystem, network, process or database modules', () => {
  const io =
    /^(node:)?(fs|fs\/promises|net|tls|http|https|http2|dgram|dns|child_process|cluster|worker_threads|sqlite|os|process|readline)$|^(pg|fastify|pino|ws)$/;
  assert.deepEqual(
    violations((entry) => entry.pkg === 'core' && io.test(entry.specifier)),
    [],
  );
});

test('core imports no other Edgeward package', () => {
  assert.deepEqual(
    violations((entry) => entry.pkg === 'core' && entry.specifier.startsWith('@edgeward/')),
    [],
  );
});

test('the agent never imports the manager or the PostgreSQL engine', () => {
  assert.deepEqual(
    violations(
      (entry) =>
        entry.pkg === 'agent' &&
        (entry.specifier.startsWith('@edgeward/manager') ||
          entry.specifier === 'pg' ||
          entry.specifier.includes('postgres')),
    ),
    [],
  );
});

test('the manager never imports the agent', () => {
  assert.deepEqual(
    violations((entry) => entry.pkg === 'manager' && entry.specifier.startsWith('@edgeward/agent')),
    [],
  );
});

test('no package deep-imports another package or climbs out of its own folder', () => {
  assert.deepEqual(
    violations((entry) => {
      if (/^@edgeward\/[^/]+\/.+/.test(entry.specifier)) return true;
      if (!entry.specifier.startsWith('.')) return false;
      const target = resolve(root, entry.file, '..', entry.specifier);
      // A package may read its own package.json (its version), never another package's files.
      return (
        !target.startsWith(join(packagesDir, entry.pkg, 'src')) &&
        target !== join(packagesDir, entry.pkg, 'package.json')
      );
    }),
    [],
  );
});

test('a package imports only the packages its package.json declares', () => {
  const builtin = /^node:/;
  const undeclared = allImports.filter((entry) => {
    if (entry.specifier.startsWith('.') || builtin.test(entry.specifier)) return false;
    const manifest = JSON.parse(readFileSync(join(packagesDir, entry.pkg, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    const name = entry.specifier.startsWith('@')
      ? entry.specifier.split('/').slice(0, 2).join('/')
      : (entry.specifier.split('/')[0] ?? '');
    return !Object.hasOwn(manifest.dependencies ?? {}, name);
  });
  assert.deepEqual(
    undeclared.map((entry) => `${entry.file} imports ${entry.specifier}`),
    [],
  );
});
