import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import * as z from 'zod/mini';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { base64UrlSignatureHolds } from '../pki/signature.ts';
import { canonicalJson } from '../policy/canonical-json.ts';
import { policyKeyId } from '../policy/policy-signing.ts';
import { useEnglishSchemaMessages } from '../validation/schema-messages.ts';
import {
  type HubFederation,
  type SiteOverlay,
  type SiteOverlayPayload,
  siteOverlayPayloadSchema,
  siteOverlaySchema,
} from './site-overlay.schema.ts';

/**
 * Signing a site overlay with the site's Ed25519 key, and authorizing one before any merge: the overlay
 * must be signed by the key the hub delegated to that site (in a hub bundle the verifier already checked
 * against the pinned fleet key), belong to the same fleet, be unexpired, and edit only settings delegated
 * to the site. Anything else refuses the whole overlay: a partial overlay would be a policy nobody wrote.
 */

export type OverlayRefusal =
  | 'malformed'
  | 'wrong-fleet'
  | 'not-delegated'
  | 'wrong-key'
  | 'bad-signature'
  | 'expired'
  | 'out-of-scope'
  | 'older';

export type OverlayAuthorization =
  | { readonly ok: true; readonly payload: SiteOverlayPayload }
  | { readonly ok: false; readonly reason: OverlayRefusal; readonly message: string };

export interface AuthorizeOverlayOptions {
  readonly fleet: string;
  /** The federation block of a verified hub bundle. */
  readonly federation: HubFederation;
  readonly nowMs: number;
  /** The overlay version already accepted from this site; an older one is refused. */
  readonly inForceVersion?: number;
}

export function signSiteOverlay(payload: SiteOverlayPayload, privateKeyPem: string): SiteOverlay {
  useEnglishSchemaMessages();
  const checked = z.safeParse(siteOverlayPayloadSchema, payload);
  if (!checked.success || canonicalJson(checked.data) !== canonicalJson(payload)) {
    throw new EdgewardError('EW_INTERNAL', 'refusing to sign a malformed site overlay payload', {
      ...(checked.success ? {} : { cause: checked.error }),
    });
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch (error) {
    throw new EdgewardError(
      'EW_POLICY_KEY_INVALID',
      'the site overlay key is not a PEM private key (PKCS#8)',
      {
        cause: error,
      },
    );
  }
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const value = sign(null, Buffer.from(canonicalJson(payload), 'utf8'), privateKey).toString('base64url');
  return { payload, signature: { alg: 'Ed25519', keyId: policyKeyId(publicKeyPem), value } };
}

export function authorizeSiteOverlay(
  overlay: unknown,
  options: AuthorizeOverlayOptions,
): OverlayAuthorization {
  useEnglishSchemaMessages();
  const parsed = z.safeParse(siteOverlaySchema, overlay);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refuse(
      'malformed',
      `the site overlay is malformed: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`,
    );
  }
  const { payload, signature } = parsed.data;
  if (payload.fleet !== options.fleet) {
    return refuse(
      'wrong-fleet',
      `the overlay of site ${payload.site} is for fleet ${payload.fleet}, not ${options.fleet}`,
    );
  }
  const delegation = options.federation.sites.find((site) => site.site === payload.site);
  if (delegation === undefined) {
    return refuse('not-delegated', `the hub delegates nothing to site ${payload.site}`);
  }
  if (signature.keyId !== policyKeyId(delegation.overlayPublicKeyPem)) {
    return refuse(
      'wrong-key',
      `the overlay of site ${payload.site} is not signed by the key the hub delegated to it`,
    );
  }
  // Over the payload as received, so that what was signed is what is judged.
  const raw = (overlay as { payload: unknown }).payload;
  const holds = base64UrlSignatureHolds(
    null,
    () => canonicalJson(raw),
    delegation.overlayPublicKeyPem,
    signature.value,
  );
  if (!holds) {
    return refuse('bad-signature', `the signature of the overlay of site ${payload.site} does not verify`);
  }
  if (options.nowMs >= payload.expiresAt) {
    return refuse('expired', `overlay ${payload.version} of site ${payload.site} has expired`);
  }
  if (options.inForceVersion !== undefined && payload.version < options.inForceVersion) {
    return refuse(
      'older',
      `overlay ${payload.version} of site ${payload.site} is older than ${options.inForceVersion}`,
    );
  }
  const allowed = new Set(delegation.settings);
  const outside = payload.edits.map((edit) => edit.setting).filter((setting) => !allowed.has(setting));
  if (outside.length > 0) {
    return refuse(
      'out-of-scope',
      `the overlay of site ${payload.site} edits ${[...new Set(outside)].join(', ')}, which the hub did not delegate to it`,
    );
  }
  return { ok: true, payload };
}

function refuse(reason: OverlayRefusal, message: string): OverlayAuthorization {
  return { ok: false, reason, message };
}
