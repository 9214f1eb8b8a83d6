import { processIo } from './cli-io.ts';
import { runEdgeward } from './edgeward-program.ts';

const io = processIo();
const code = await runEdgeward(process.argv.slice(2), io);
// Kept-alive sockets and timers of a finished command must not keep the process running.
process.exit(code);
