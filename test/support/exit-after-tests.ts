// Loaded into the process of every test file by scripts/run-tests.ts. A file's process should end by
// itself once its tests and hooks are done; one that something still keeps busy (a socket or timer a test
// left behind) would otherwise hold the whole run until the per-test timeout and fail the file although
// every test passed. After a grace it is ended, saying so, with the exit code its tests earned.
import { after } from 'node:test';

const graceMs = 15_000;

after(() => {
  setTimeout(() => {
    process.stderr.write(
      `this test file's process was still busy ${graceMs} ms after its last test: ended\n`,
    );
    process.exit();
  }, graceMs).unref();
});
