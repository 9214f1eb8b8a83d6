import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from 'commander';
import { captureIo } from './cli-io.fixture.ts';
import { buildEdgewardProgram, runEdgeward } from './edgeward-program.ts';

function leaves(command: Command, path: string[] = []): string[][] {
  if (command.commands.length === 0) return [path];
  return command.commands.flatMap((sub) => leaves(sub, [...path, sub.name()]));
}

test('every command has --help with at least one example', async () => {
  const commands = leaves(buildEdgewardProgram(captureIo()));
  assert.ok(commands.length >= 15, `found ${commands.length} commands`);
  for (const path of commands) {
    const io = captureIo();
    const code = await runEdgeward([...path, '--help'], io);
    assert.equal(code, 0, path.join(' '));
    assert.match(io.stdout.join(''), /\$ (\S+=\S+ )?edgeward /, `${path.join(' ')} --help shows an example`);
  }
});

test('an unknown command or a missing required flag exits with 2 and says what is wrong', async () => {
  const unknown = captureIo();
  assert.equal(await runEdgeward(['devices', 'frobnicate'], unknown), 2);
  assert.match(unknown.stderr.join(''), /unknown command/);
  const missing = captureIo();
  assert.equal(await runEdgeward(['agent', 'enroll', '--data-dir', '/tmp/x'], missing), 2);
  assert.match(missing.stderr.join(''), /--manager/);
});

test('a bad label flag is a usage error naming the flag and the fix', async () => {
  const io = captureIo();
  assert.equal(
    await runEdgeward(['tokens', 'create', '--label', 'no-equals-sign', '--ca-file', '/dev/null'], io),
    2,
  );
  assert.match(io.stderr.join(''), /--label no-equals-sign must look like key=value/);
});
