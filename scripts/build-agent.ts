// Builds the device binary: the agent's commands bundled into one JavaScript file, so that a device runs
// no TypeScript stripper and carries only what the agent uses. `npm run build:agent`.
import { build } from 'esbuild';

export const agentBundlePath = new URL('../packages/cli/dist/edgeward-agent.mjs', import.meta.url).pathname;

export async function buildAgentBundle(): Promise<string> {
  await build({
    entryPoints: [new URL('../packages/cli/src/agent-main.ts', import.meta.url).pathname],
    outfile: agentBundlePath,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    // Some dependencies are CommonJS and call require(); an ES module bundle has to provide it.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  return agentBundlePath;
}

if (import.meta.main) {
  process.stdout.write(`built ${await buildAgentBundle()}\n`);
}
