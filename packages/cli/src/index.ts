export { type CliIo, processIo } from './cli-io.ts';
export { buildEdgewardProgram, runEdgeward } from './edgeward-program.ts';
export { exitCodes, newProgram, runProgram } from './program.ts';
