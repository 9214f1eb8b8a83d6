/**
 * PEM (RFC 7468) without the X.509 library: the agent reads and writes PEM on every start, and loading
 * the full library for that would cost a small device several megabytes it never gets back.
 */
export interface PemBlock {
  readonly type: string;
  readonly der: Uint8Array;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order; throws on a block whose body is not base64. */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const body = (match[2] ?? '').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw new Error(`the ${match[1]} block is not base64`);
    }
    const binary = atob(body);
    const der = new Uint8Array(binary.length);
    for (let index = 0; index < binary.length; index += 1) der[index] = binary.charCodeAt(index);
    blocks.push({ type: match[1] ?? '', der });
  }
  return blocks;
}

/** One PEM block, base64 wrapped at 64 columns, with a final newline. */
export function encodePemBlock(der: ArrayBuffer | ArrayBufferView, label: string): string {
  const bytes =
    der instanceof ArrayBuffer
      ? new Uint8Array(der)
      : new Uint8Array(der.buffer, der.byteOffset, der.byteLength);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
