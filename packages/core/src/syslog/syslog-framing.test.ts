import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeOctetCounted } from './syslog-formatter.ts';
import { SyslogFrameDecoder, type SyslogFrameDecoderOptions } from './syslog-framing.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);
const texts = (frames: Uint8Array[]) => frames.map((frame) => decoder.decode(frame));

function decodeAll(options: SyslogFrameDecoderOptions, chunks: readonly Uint8Array[]) {
  const framer = new SyslogFrameDecoder(options);
  const frames = chunks.flatMap((chunk) => framer.push(chunk));
  frames.push(...framer.end());
  return { frames: texts(frames), raw: frames, stats: framer.stats };
}

function splitAt(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let previous = 0;
  for (const point of [...points, data.length]) {
    chunks.push(data.subarray(previous, point));
    previous = point;
  }
  return chunks;
}

test('splits octet-counted frames, counting bytes of UTF-8, across chunk boundaries', () => {
  const stream = new Uint8Array([
    ...encodeOctetCounted('<13>1 - - - - - grüße'),
    ...encodeOctetCounted('<13>1 - - - - - line\nbreak inside'),
  ]);
  const result = decodeAll({}, splitAt(stream, [1, 2, 3, 20, 21]));
  assert.deepEqual(result.frames, ['<13>1 - - - - - grüße', '<13>1 - - - - - line\nbreak inside']);
  assert.deepEqual(result.stats, { frames: 2, oversize: 0, framingErrors: 0 });
});

test('splits lines on LF, CRLF and NUL and skips blank lines', () => {
  const result = decodeAll({}, [bytes('<13>a\n<13>b\r\n\r\n<13>c\0\0<13>d')]);
  assert.deepEqual(result.frames, ['<13>a', '<13>b', '<13>c', '<13>d']);
  assert.equal(result.stats.frames, 4);
});

test('detects the framing from the first byte of the stream and keeps it', () => {
  const octet = new SyslogFrameDecoder();
  octet.push(bytes('5 <13>x'));
  assert.equal(octet.mode, 'octet-counting');
  const lines = new SyslogFrameDecoder();
  assert.deepEqual(texts(lines.push(bytes('<13>x\n12 not a length\n'))), ['<13>x', '12 not a length']);
  assert.equal(lines.mode, 'newline');
});

test('tolerates line ends between octet-counted frames', () => {
  const result = decodeAll({ framing: 'octet-counting' }, [bytes('5 <13>a\n5 <13>b\r\n\n5 <13>c')]);
  assert.deepEqual(result.frames, ['<13>a', '<13>b', '<13>c']);
  assert.equal(result.stats.framingErrors, 0);
});

test('reads a frame that does not start with LEN SP as a line and resumes octet counting after it', () => {
  const result = decodeAll({ framing: 'octet-counting' }, [bytes('5 <13>a<13>stray line\n12x3\n5 <13>b')]);
  assert.deepEqual(result.frames, ['<13>a', '<13>stray line', '12x3', '<13>b']);
  assert.equal(result.stats.framingErrors, 2);
});

test('skips and counts oversize frames without losing the next one', () => {
  const counted = decodeAll({ framing: 'octet-counting', maxMessageBytes: 8 }, [
    bytes('9 <13>12345'),
    bytes('8 <13>1234'),
    bytes('1000000 '),
    new Uint8Array(1_000_000),
    bytes('5 <13>z'),
  ]);
  assert.deepEqual(counted.frames, ['<13>1234', '<13>z']);
  assert.equal(counted.stats.oversize, 2);
  const lines = decodeAll({ framing: 'newline', maxMessageBytes: 8 }, [
    bytes('<13>12345\n<13>1234\n<13>'),
    new Uint8Array(100_000).fill(0x41),
    bytes('\n<13>z\n'),
  ]);
  assert.deepEqual(lines.frames, ['<13>1234', '<13>z']);
  assert.equal(lines.stats.oversize, 2);
});

test('a length of more than nine digits is a framing error, not a wait for gigabytes', () => {
  const result = decodeAll({ framing: 'octet-counting' }, [bytes('1234567890 <13>x\n5 <13>b')]);
  assert.deepEqual(result.frames, ['1234567890 <13>x', '<13>b']);
  assert.equal(result.stats.framingErrors, 1);
});

test('at the end of the stream a last unterminated line counts, a cut counted frame is an error', () => {
  assert.deepEqual(decodeAll({}, [bytes('<13>a\n<13>b')]).frames, ['<13>a', '<13>b']);
  const cut = decodeAll({}, [bytes('10 <13>a')]);
  assert.deepEqual(cut.frames, []);
  assert.equal(cut.stats.framingErrors, 1);
});

test('returns copies: reusing the pushed buffer does not change frames already returned', () => {
  const framer = new SyslogFrameDecoder({ framing: 'newline' });
  const buffer = bytes('<13>ab');
  framer.push(buffer);
  buffer.fill(0x21);
  const frames = framer.push(bytes('\n'));
  assert.deepEqual(texts(frames), ['<13>ab']);
});

const streamPiece = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((text) => encodeOctetCounted(`<13>${text}`)),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((text) => bytes(`<13>${text}\n`)),
  fc.constantFrom(bytes('\r\n'), bytes('\0'), bytes(' '), bytes('99'), bytes('0 '), bytes('123456789012 ')),
  fc.uint8Array({ maxLength: 40 }),
);

test('any chunking of any byte stream gives the same frames and counts as one push', () => {
  fc.assert(
    fc.property(
      fc.array(streamPiece, { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      fc.constantFrom('auto', 'octet-counting', 'newline') as fc.Arbitrary<
        SyslogFrameDecoderOptions['framing']
      >,
      fc.integer({ min: 1, max: 64 }),
      (pieces, cuts, framing, maxMessageBytes) => {
        const stream = new Uint8Array(pieces.flatMap((piece) => [...piece]));
        const options = framing === undefined ? { maxMessageBytes } : { framing, maxMessageBytes };
        const whole = decodeAll(options, [stream]);
        assert.deepEqual(decodeAll(options, splitAt(stream, cuts)), whole);
        const byteByByte = Array.from(stream, (byte) => new Uint8Array([byte]));
        assert.deepEqual(decodeAll(options, byteByByte), whole);
        for (const frame of whole.raw) assert.ok(frame.length <= maxMessageBytes);
      },
    ),
    { numRuns: 1000 },
  );
});

test('octet-counted messages come out exactly as they went in, whatever they contain', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 100 }), { maxLength: 10 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (messages, cuts) => {
        const stream = new Uint8Array(messages.flatMap((message) => [...encodeOctetCounted(message)]));
        const framer = new SyslogFrameDecoder({ framing: 'octet-counting' });
        const frames = splitAt(stream, cuts).flatMap((chunk) => framer.push(chunk));
        assert.deepEqual(frames, messages);
      },
    ),
  );
});
