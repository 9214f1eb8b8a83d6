import { EdgewardError } from '../errors/edgeward-error.ts';

/**
 * SPIFFE-style identities carried as the URI SAN of every fleet certificate:
 * `spiffe://<fleet>/device/<id>` and `spiffe://<fleet>/site/<id>`. The fleet is the trust domain.
 */
export type SpiffeKind = 'device' | 'site';

export interface SpiffeIdentity {
  readonly fleet: string;
  readonly kind: SpiffeKind;
  readonly id: string;
  /**
   * For a device enrolled at a site (`spiffe://<fleet>/site/<site>/device/<id>`), the site whose
   * delegated CA issued it; absent for the hub's own devices and for sites.
   */
  readonly site?: string;
}

/** Longest device or site id accepted, in characters. */
export const MAX_IDENTITY_ID_LENGTH = 128;

// DNS-like, lower case only: SPIFFE trust domains are compared byte for byte, so one spelling per fleet.
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const FLEET = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const ID = /^[A-Za-z0-9._-]+$/;
const SPIFFE_ID = /^spiffe:\/\/([^/]+)\/(device|site)\/([^/]+)$/;
const SITE_DEVICE_SPIFFE_ID = /^spiffe:\/\/([^/]+)\/site\/([^/]+)\/device\/([^/]+)$/;

/** Whether `fleet` can be a trust domain: DNS-like labels of `a-z`, `0-9` and `-`, at most 253 characters. */
export function isValidFleetName(fleet: string): boolean {
  return typeof fleet === 'string' && fleet.length <= 253 && FLEET.test(fleet);
}

/** Whether `id` can name a device or site: `A-Z a-z 0-9 . _ -`, not `.` or `..`, at most 128 characters. */
export function isValidIdentityId(id: string): boolean {
  return (
    typeof id === 'string' &&
    id.length <= MAX_IDENTITY_ID_LENGTH &&
    ID.test(id) &&
    // SPIFFE forbids dot segments: they would change meaning under URI normalisation.
    id !== '.' &&
    id !== '..'
  );
}

export function deviceSpiffeId(fleet: string, id: string): string {
  return spiffeId(fleet, 'device', id);
}

export function siteSpiffeId(fleet: string, id: string): string {
  return spiffeId(fleet, 'site', id);
}

/** `spiffe://<fleet>/site/<site>/device/<id>`: a device enrolled at a site, under the site's delegated CA. */
export function siteDeviceSpiffeId(fleet: string, site: string, id: string): string {
  return `${spiffeId(fleet, 'site', site)}/device/${spiffeId(fleet, 'device', id).split('/').at(-1)}`;
}

/** The string form of a parsed identity: `parseSpiffeId(formatSpiffeId(x))` gives `x` back. */
export function formatSpiffeId(identity: SpiffeIdentity): string {
  return identity.site === undefined
    ? spiffeId(identity.fleet, identity.kind, identity.id)
    : siteDeviceSpiffeId(identity.fleet, identity.site, identity.id);
}

/** Builds `spiffe://<fleet>/<kind>/<id>`; throws EW_SPIFFE_ID_INVALID naming the bad part. */
export function spiffeId(fleet: string, kind: SpiffeKind, id: string): string {
  if (!isValidFleetName(fleet)) {
    throw new EdgewardError(
      'EW_SPIFFE_ID_INVALID',
      `fleet name "${fleet}" is not a valid trust domain: use lower-case DNS-style labels such as "acme.example"`,
      { details: { fleet } },
    );
  }
  if (!isValidIdentityId(id)) {
    throw new EdgewardError(
      'EW_SPIFFE_ID_INVALID',
      `${kind} id "${id}" is not valid: use 1 to ${MAX_IDENTITY_ID_LENGTH} of A-Z a-z 0-9 . _ - (not "." or "..")`,
      { details: { kind, id } },
    );
  }
  return `spiffe://${fleet}/${kind}/${id}`;
}

/**
 * Reads an Edgeward SPIFFE id, or returns undefined for anything else: no normalisation is applied, so
 * a string is accepted only in the exact form {@link spiffeId} produces and two accepted ids are equal
 * exactly when their strings are.
 */
export function parseSpiffeId(uri: string): SpiffeIdentity | undefined {
  if (typeof uri !== 'string') return undefined;
  const nested = SITE_DEVICE_SPIFFE_ID.exec(uri);
  if (nested !== null) {
    const [, fleet, site, id] = nested;
    if (fleet === undefined || site === undefined || id === undefined) return undefined;
    if (!isValidFleetName(fleet) || !isValidIdentityId(site) || !isValidIdentityId(id)) return undefined;
    return { fleet, kind: 'device', id, site };
  }
  const match = SPIFFE_ID.exec(uri);
  if (match === null) return undefined;
  const [, fleet, kind, id] = match;
  if (fleet === undefined || id === undefined || (kind !== 'device' && kind !== 'site')) return undefined;
  if (!isValidFleetName(fleet) || !isValidIdentityId(id)) return undefined;
  return { fleet, kind, id };
}
