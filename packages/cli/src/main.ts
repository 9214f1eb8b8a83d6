import { exitWhenFlushed, processIo } from './cli-io.ts';
import { runEdgeward } from './edgeward-program.ts';

await exitWhenFlushed(await runEdgeward(process.argv.slice(2), processIo()));
