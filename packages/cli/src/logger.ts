import pino, { type Logger } from 'pino';
import type { CliIo } from './cli-io.ts';

/** The one logger: JSON lines for machines, readable lines in a terminal. Logs go to standard error. */
export async function createLogger(level: string, io: CliIo): Promise<Logger> {
  if (io.isTty) {
    // Loaded only for people at a terminal; the device bundle leaves the pretty printer out, and then
    // the terminal gets JSON lines too.
    const pretty = await import('pino-pretty').then(
      (module) => module.default,
      () => undefined,
    );
    if (pretty !== undefined) {
      return pino(
        { level },
        pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' }),
      );
    }
  }
  return pino({ level }, pino.destination({ fd: 2, sync: false }));
}
