import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';

export function registerSimCommand(_program: Command, _io: CliIo): void {}
