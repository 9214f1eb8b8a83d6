/**
 * The one place that loads @peculiar/x509: its dependency tsyringe throws at load time unless a Reflect
 * metadata polyfill is installed first, and ES modules evaluate their imports in order, so the polyfill
 * import must stay above the library's.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

// Explicit rather than relying on the library's environment sniffing: core uses WebCrypto only.
x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
