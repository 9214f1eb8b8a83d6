import { hash } from 'node:crypto';

/**
 * Event ids that agent and manager can both work out. An id that can be derived from what the event
 * already carries need not travel: a compact batch (protocol v2) leaves it out and the manager derives
 * it again, with these same functions.
 */

/**
 * A UUID (version 8, RFC 9562's custom layout) derived from `parts`, so that an event read twice from the
 * same source position (a crash between the queue's write and the saved position) carries the same id
 * and can be recognised as a repeat.
 */
export function deterministicEventId(...parts: readonly (string | number)[]): string {
  // The one-shot hash: the agent's encoder asks for one per event, and a Hash object costs more than the digest.
  const hex = hash('sha256', parts.join('\u0000'), 'hex');
  const variant = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The id the agent's queue gives an event that came without one: its sequence number's, unique per device. */
export function queuedEventId(seq: number): string {
  return deterministicEventId('queue', seq);
}

/**
 * The id of a line read from a log file: its file (`source`, and `fileHead`, the hash of the file's
 * first line, which tells a new file from the one it replaced), its byte offset and its full text.
 */
export function logLineEventId(source: string, fileHead: string, offset: number, text: string): string {
  return deterministicEventId('auth-log', source, fileHead, offset, text);
}

/** The id of a systemd journal entry, from its cursor. */
export function journalEventId(cursor: string): string {
  return deterministicEventId('journal', cursor);
}

/**
 * The id `event` would have if its producer derived it: from a log line's position and text, from a
 * journal cursor, or else from its sequence number. Equal to `event.id` exactly when the id need not be
 * sent.
 */
export function derivedEventId(event: {
  readonly seq: number;
  readonly data: Record<string, unknown>;
}): string {
  const { source, fileHead, offset, line, cursor } = event.data;
  if (source === 'journal' && typeof cursor === 'string') return journalEventId(cursor);
  if (
    typeof source === 'string' &&
    typeof fileHead === 'string' &&
    typeof offset === 'number' &&
    typeof line === 'string'
  ) {
    return logLineEventId(source, fileHead, offset, line);
  }
  return queuedEventId(event.seq);
}
