// Loaded into each test file's process by scripts/run-tests.ts. A file's process reports its results to
// the runner through its standard output, a pipe, which Node writes without blocking on Linux; under
// `--test-force-exit` the process can then exit with the last results still unwritten, and the runner
// counts neither those passes nor those failures and still succeeds (nodejs/node#64833). Blocking writes
// are done before the process exits.
const handle = (process.stdout as unknown as { _handle?: { setBlocking?: (blocking: boolean) => unknown } })
  ._handle;
handle?.setBlocking?.(true);
