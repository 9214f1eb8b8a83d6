/**
 * Decodes base64url only in its one canonical spelling. Node's decoder also takes `+` and `/`, padding,
 * and a last character whose unused bits are set, so several texts decode to the same bytes; a signature
 * read leniently would let a signed export or bundle be altered without its verification noticing.
 * Returns undefined for any other spelling.
 */
export function decodeCanonicalBase64Url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
