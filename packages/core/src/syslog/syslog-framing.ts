/**
 * Splits a syslog byte stream (TCP, TLS, a pipe) into messages, RFC 6587: octet counting (`LEN SP MSG`,
 * what RFC 5425 requires over TLS) or one message per line. Incremental — feed chunks as they arrive —
 * and bounded: no frame grows past `maxMessageBytes`, and a stream that breaks the rules is resynchronised
 * at the next line end instead of stalling the connection.
 */

export type SyslogFraming = 'octet-counting' | 'newline';

export interface SyslogFrameDecoderOptions {
  /**
   * Fixed framing, or `auto` (default): octet counting when the stream's first byte is a digit, since a
   * line-framed message starts with `<`.
   */
  readonly framing?: SyslogFraming | 'auto';
  /** Larger frames are skipped and counted in `oversize` (bytes; default 65536). */
  readonly maxMessageBytes?: number;
}

export interface SyslogFrameStats {
  readonly frames: number;
  /** Frames skipped for exceeding `maxMessageBytes`. */
  readonly oversize: number;
  /**
   * Octet-counted frames that did not start with `LEN SP` (read up to the next line end instead, as
   * rsyslog does), plus a frame cut short by the end of the stream.
   */
  readonly framingErrors: number;
}

export const DEFAULT_SYSLOG_MAX_MESSAGE_BYTES = 65_536;

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const SP = 0x20;
const ZERO = 0x30;
const NINE = 0x39;
/** MSG-LEN has at most 9 digits here: more could not be a frame we would accept anyway. */
const MAX_LENGTH_DIGITS = 9;

type State =
  /** Between frames. */
  | 'start'
  /** Reading the digits of LEN (kept in `parts`, in case they turn out to start a line instead). */
  | 'length'
  /** Reading `remaining` bytes of an octet-counted frame. */
  | 'body'
  | 'skip-body'
  /** Reading up to LF or NUL. */
  | 'line'
  | 'skip-line';

export class SyslogFrameDecoder {
  readonly framing: SyslogFraming | 'auto';
  readonly maxMessageBytes: number;
  #mode: SyslogFraming | undefined;
  #state: State = 'start';
  #parts: Uint8Array[] = [];
  #partsBytes = 0;
  #length = 0;
  #remaining = 0;
  #frames = 0;
  #oversize = 0;
  #framingErrors = 0;

  constructor(options: SyslogFrameDecoderOptions = {}) {
    this.framing = options.framing ?? 'auto';
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_SYSLOG_MAX_MESSAGE_BYTES;
    this.#mode = this.framing === 'auto' ? undefined : this.framing;
  }

  /** The framing in use: undefined in `auto` mode until the first byte arrived. */
  get mode(): SyslogFraming | undefined {
    return this.#mode;
  }

  get stats(): SyslogFrameStats {
    return { frames: this.#frames, oversize: this.#oversize, framingErrors: this.#framingErrors };
  }

  /** Feeds the next bytes of the stream; returns the frames they complete (copies, in order). */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.#state) {
        case 'start': {
          const byte = chunk[pos] ?? 0;
          this.#mode ??= isDigit(byte) ? 'octet-counting' : 'newline';
          if (this.#mode === 'newline') {
            this.#state = 'line';
          } else if (isDigit(byte)) {
            this.#state = 'length';
            this.#length = 0;
          } else if (byte === LF || byte === CR || byte === NUL || byte === SP) {
            // Many senders end octet-counted frames with a line break as well; it is not an error.
            pos += 1;
          } else {
            this.#framingErrors += 1;
            this.#state = 'line';
          }
          break;
        }
        case 'length': {
          const start = pos;
          while (
            pos < chunk.length &&
            isDigit(chunk[pos] ?? 0) &&
            this.#partsBytes + pos - start < MAX_LENGTH_DIGITS
          ) {
            this.#length = this.#length * 10 + ((chunk[pos] ?? ZERO) - ZERO);
            pos += 1;
          }
          this.#keep(chunk.subarray(start, pos));
          if (pos === chunk.length) break;
          if (chunk[pos] === SP && this.#length > 0) {
            pos += 1;
            this.#clear();
            this.#remaining = this.#length;
            if (this.#length > this.maxMessageBytes) {
              this.#oversize += 1;
              this.#state = 'skip-body';
            } else {
              this.#state = 'body';
            }
          } else {
            // Not `LEN SP`: read this frame as a line, digits included, and try octet counting again after.
            this.#framingErrors += 1;
            this.#state = 'line';
          }
          break;
        }
        case 'body':
        case 'skip-body': {
          const take = Math.min(this.#remaining, chunk.length - pos);
          if (this.#state === 'body') this.#keep(chunk.subarray(pos, pos + take));
          this.#remaining -= take;
          pos += take;
          if (this.#remaining === 0) {
            if (this.#state === 'body') {
              frames.push(this.#take());
              this.#frames += 1;
            }
            this.#state = 'start';
          }
          break;
        }
        case 'line':
        case 'skip-line': {
          const end = lineEnd(chunk, pos);
          const stop = end === -1 ? chunk.length : end;
          if (this.#state === 'line') {
            // The limit counts every byte before LF or NUL (a trailing CR too), so that where the chunks
            // split cannot change which frames are oversize.
            if (this.#partsBytes + (stop - pos) > this.maxMessageBytes) {
              this.#oversize += 1;
              this.#clear();
              this.#state = 'skip-line';
            } else {
              this.#keep(chunk.subarray(pos, stop));
            }
          }
          pos = stop;
          if (end !== -1) {
            pos += 1;
            if (this.#state === 'line') this.#emitLine(frames);
            this.#state = 'start';
          }
          break;
        }
      }
    }
    return frames;
  }

  /** The stream ended: returns a last line without a line end; an unfinished counted frame is an error. */
  end(): Uint8Array[] {
    const frames: Uint8Array[] = [];
    if (this.#state === 'line') this.#emitLine(frames);
    else if (this.#state === 'body' || this.#state === 'length') this.#framingErrors += 1;
    this.#clear();
    this.#state = 'start';
    return frames;
  }

  #emitLine(frames: Uint8Array[]): void {
    const line = this.#take();
    const length = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
    // Blank lines (keep-alives, CRLF pairs, runs of NUL) are no messages.
    if (length === 0) return;
    frames.push(length === line.length ? line : line.subarray(0, length));
    this.#frames += 1;
  }

  #keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    // A copy: the caller may reuse its buffer once push returns.
    this.#parts.push(bytes.slice());
    this.#partsBytes += bytes.length;
  }

  #take(): Uint8Array {
    const frame =
      this.#parts.length === 1
        ? (this.#parts[0] ?? new Uint8Array(0))
        : concat(this.#parts, this.#partsBytes);
    this.#clear();
    return frame;
  }

  #clear(): void {
    this.#parts = [];
    this.#partsBytes = 0;
  }
}

function isDigit(byte: number): boolean {
  return byte >= ZERO && byte <= NINE;
}

/** The index of the next LF or NUL, or -1. */
function lineEnd(chunk: Uint8Array, from: number): number {
  for (let index = from; index < chunk.length; index += 1) {
    const byte = chunk[index];
    if (byte === LF || byte === NUL) return index;
  }
  return -1;
}

function concat(parts: readonly Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
