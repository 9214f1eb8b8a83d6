import { errorCatalog, exitCodeByCategory, httpStatusByCategory } from './error-catalog.ts';

/** docs/errors.md, generated from the catalog so that the list cannot drift from the code. */
export function renderErrorDocs(): string {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from packages/core/src/errors/error-catalog.ts by `npm run docs`; do not edit. -->',
    '',
    'Every error Edgeward reports carries one of these stable codes. The API answers with the HTTP status',
    'of its category and a body `{"error": {"code", "message"}}`; the CLI prints the code and the',
    'message and exits with the exit code of its category.',
    '',
    '| code | category | HTTP | exit | meaning | what to do |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const [code, definition] of Object.entries(errorCatalog)) {
    lines.push(
      `| \`${code}\` | ${definition.category} | ${httpStatusByCategory[definition.category]} | ${exitCodeByCategory[definition.category]} | ${definition.meaning} | ${definition.action.replaceAll('|', '\\|')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
