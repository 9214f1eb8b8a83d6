import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDashboard } from './index.ts';

test('a missing build leaves no page and an explanation that names the folder and the command', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ew-web-'));
  try {
    const bundle = loadDashboard(join(dir, 'dist'));
    assert.equal(bundle.page, undefined);
    assert.equal(bundle.assets.size, 0);
    assert.match(bundle.missingPage, /npm run build:web/);
    assert.ok(bundle.missingPage.includes(join(dir, 'dist')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a build is served as its page and its files by URL path, each with its content type', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ew-web-'));
  try {
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>x</title>');
    await writeFile(join(dir, 'assets', 'index-abc.js'), 'export {}');
    await writeFile(join(dir, 'assets', 'index-abc.css'), 'body{}');
    const bundle = loadDashboard(dir);
    assert.equal(bundle.page?.body.toString(), '<!doctype html><title>x</title>');
    assert.deepEqual([...bundle.assets].map(([path, asset]) => [path, asset.contentType]).sort(), [
      ['/assets/index-abc.css', 'text/css; charset=utf-8'],
      ['/assets/index-abc.js', 'text/javascript; charset=utf-8'],
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
