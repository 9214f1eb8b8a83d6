import {
  DEFAULT_SYSLOG_MAX_MESSAGE_BYTES,
  parseSyslog,
  SyslogFrameDecoder,
  syslogEvent,
} from '@edgeward/core';
import { type Command, Option } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { UsageError } from '../output.ts';

interface ParseFlags {
  framing: 'newline' | 'octet';
  now?: string;
  maxMessageBytes: string;
}

export function registerSyslogCommands(program: Command, io: CliIo): void {
  const syslog = program.command('syslog').description('syslog as the manager receives it');

  syslog
    .command('parse')
    .description(
      'read syslog messages (RFC 5424 or BSD) from standard input and print each as the event the manager would store, one JSON object per line',
    )
    .addOption(
      new Option(
        '--framing <framing>',
        'newline: one message per line (LF, CRLF or NUL); octet: RFC 6587 octet counting, LEN SP MSG',
      )
        .choices(['newline', 'octet'])
        .default('newline'),
    )
    .option(
      '--now <iso-time>',
      'the receive time: picks the year of BSD timestamps, and is the time of messages without one (default: now)',
    )
    .option(
      '--max-message-bytes <n>',
      'longer messages are skipped and counted',
      String(DEFAULT_SYSLOG_MAX_MESSAGE_BYTES),
    )
    .addHelpText(
      'after',
      `
A message that cannot be read is printed too, with format "malformed", its raw text and the reason.
Counts go to standard error.

Examples:
  $ edgeward syslog parse < /var/log/syslog
  $ edgeward syslog parse --now 2025-05-12T10:20:00Z < lines.txt
  $ edgeward syslog parse --framing octet < capture-6514.bin`,
    )
    .action(async (flags: ParseFlags) => {
      const receivedAt = flags.now === undefined ? Date.now() : Date.parse(flags.now);
      if (Number.isNaN(receivedAt))
        throw new UsageError(`--now ${flags.now} must be an ISO 8601 time, e.g. --now 2025-05-12T10:20:00Z`);
      const maxMessageBytes = Number(flags.maxMessageBytes);
      if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1)
        throw new UsageError(`--max-message-bytes ${flags.maxMessageBytes} must be a whole number ≥ 1`);
      if (io.stdin === undefined)
        throw new UsageError('syslog parse reads standard input, and there is none');
      const decoder = new SyslogFrameDecoder({
        framing: flags.framing === 'octet' ? 'octet-counting' : 'newline',
        maxMessageBytes,
      });
      let messages = 0;
      let malformed = 0;
      const print = (frames: Uint8Array[]) => {
        if (frames.length === 0) return;
        const lines = frames.map((frame) => {
          const message = parseSyslog(frame, { receivedAt });
          messages += 1;
          if (message.format === 'malformed') malformed += 1;
          return JSON.stringify(syslogEvent(message, receivedAt));
        });
        // One write per chunk read rather than per message: stdin is often a whole log file.
        io.out(`${lines.join('\n')}\n`);
      };
      for await (const chunk of io.stdin) print(decoder.push(chunk));
      print(decoder.end());
      const { oversize, framingErrors } = decoder.stats;
      io.err(
        `${messages} messages, ${malformed} malformed, ${oversize} oversize skipped, ${framingErrors} framing errors`,
      );
    });
}
