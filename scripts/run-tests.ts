// `npm run test:unit`: Node's test runner over every test file, two files at a time, with two bounds so
// that nothing can stall a run: each test (and hook) fails after `--test-timeout`, and the whole run is
// stopped, failing, after EDGEWARD_TEST_RUN_TIMEOUT_MS (default 20 minutes). Each file's process exits as
// soon as its tests are done and reported (`--test-force-exit`, in the files' processes only): a handle a
// test left behind can then neither hold the run nor hang Node's own cleanup at exit; and each writes its
// results to the runner before it exits (scripts/test-file-stdout.ts).
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const testTimeoutMs = 300_000;
const runTimeoutMs = Number(process.env.EDGEWARD_TEST_RUN_TIMEOUT_MS ?? 1_200_000);
const patterns = process.argv.slice(2);

const watchdog = new AbortController();
const timer = setTimeout(() => {
  process.stderr.write(`\nthe test run took longer than ${runTimeoutMs} ms and was stopped\n`);
  process.exitCode = 1;
  watchdog.abort();
}, runTimeoutMs);

const stream = run({
  globPatterns: patterns.length > 0 ? patterns : ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
  concurrency: 2,
  timeout: testTimeoutMs,
  execArgv: ['--test-force-exit', '--import', new URL('./test-file-stdout.ts', import.meta.url).href],
  signal: watchdog.signal,
});
stream.on('test:fail', () => {
  process.exitCode = 1;
});
stream.on('end', () => clearTimeout(timer));
stream.compose(spec).pipe(process.stdout);
