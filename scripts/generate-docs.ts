// Regenerates the documentation that is derived from code; the tests fail when a committed copy is stale.
import { writeFileSync } from 'node:fs';
import { renderErrorDocs } from '@edgeward/core';

writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorDocs());
