/**
 * WebCrypto type names for code that runs on Node without the DOM library. Type-only: nothing from
 * node:crypto is loaded at run time, core still uses globalThis.crypto alone.
 */
import type { webcrypto } from 'node:crypto';

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type Algorithm = webcrypto.Algorithm;
export type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
export type EcKeyImportParams = webcrypto.EcKeyImportParams;
export type EcdsaParams = webcrypto.EcdsaParams;
export type RsaKeyAlgorithm = webcrypto.RsaKeyAlgorithm;
export type BufferSource = webcrypto.BufferSource;
