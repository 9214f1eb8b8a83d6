// The senders of the syslog benchmark, on their own thread so that writing does not share the event loop
// with the listener being measured: a few TCP connections, each writing its prepared octet-counted stream
// as fast as the receiver takes it.
import { connect } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

export interface SyslogSenderData {
  /** One prepared stream per connection: octet-counted RFC 5424 frames, back to back. */
  readonly streams: Uint8Array[];
}

/** Send every stream to 127.0.0.1:port, one connection each. */
export interface SyslogSendCommand {
  readonly port: number;
}

export type SyslogSendReply = { readonly bytes: number } | { readonly error: string };

const data = workerData as SyslogSenderData;

function send(port: number, stream: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => socket.end(stream));
    socket.on('error', reject);
    // Resolved once the receiver has everything and the connection is closed.
    socket.on('close', (hadError) => (hadError ? undefined : resolve(stream.length)));
    socket.resume();
  });
}

parentPort?.on('message', (command: SyslogSendCommand) => {
  Promise.all(data.streams.map((stream) => send(command.port, stream))).then(
    (sizes) => parentPort?.postMessage({ bytes: sizes.reduce((a, b) => a + b, 0) } satisfies SyslogSendReply),
    (error: unknown) => parentPort?.postMessage({ error: String(error) } satisfies SyslogSendReply),
  );
});
