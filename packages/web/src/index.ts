import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The dashboard's single page, served by the manager on the operator port. */
export function dashboardPage(): string {
  cached ??= readFileSync(new URL('../public/index.html', import.meta.url), 'utf8');
  return cached;
}
