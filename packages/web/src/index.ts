import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One built file of the dashboard, held in memory (the whole build is a few hundred kilobytes). */
export interface DashboardAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

/**
 * The dashboard as the manager serves it: the page, and the hashed files under `/assets/` that never
 * change under one name. `page` is undefined when the build is missing; `missingPage` then explains it.
 */
export interface DashboardBundle {
  readonly page: DashboardAsset | undefined;
  /** By URL path, `/assets/index-3f2a.js`. */
  readonly assets: ReadonlyMap<string, DashboardAsset>;
  readonly distDir: string;
  readonly missingPage: string;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** Where `npm run build:web` (run by `npm ci` through `prepare`) writes the dashboard. */
export const defaultDashboardDist = fileURLToPath(new URL('../dist', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/** Reads the built dashboard from `distDir` once, at the manager's start. */
export function loadDashboard(distDir: string = defaultDashboardDist): DashboardBundle {
  const missingPage = missingDashboardPage(distDir);
  let exists = false;
  try {
    exists = statSync(join(distDir, 'index.html')).isFile();
  } catch {
    exists = false;
  }
  if (!exists) return { page: undefined, assets: new Map(), distDir, missingPage };
  const assets = new Map<string, DashboardAsset>();
  for (const file of filesUnder(distDir)) {
    const path = `/${relative(distDir, file).split(sep).join('/')}`;
    if (path === '/index.html') continue;
    assets.set(path, {
      body: readFileSync(file),
      contentType: contentTypes[extname(file)] ?? 'application/octet-stream',
    });
  }
  return {
    page: { body: readFileSync(join(distDir, 'index.html')), contentType: contentTypes['.html'] ?? '' },
    assets,
    distDir,
    missingPage,
  };
}

function missingDashboardPage(distDir: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Edgeward: dashboard not built</title></head>
<body>
<h1>The dashboard has not been built</h1>
<p>This manager found no dashboard in <code>${distDir.replace(/[<>&]/g, '')}</code>. <code>npm ci</code> builds it;
after changing its sources, or when installing with <code>--ignore-scripts</code>, run
<code>npm run build:web</code> and restart the manager.</p>
<p>The operator API on this port works without it (for example <code>npx edgeward devices list</code>).</p>
</body></html>
`;
}
