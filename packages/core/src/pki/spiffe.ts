import { EdgewardError } from '../errors/edgeward-error.ts';

/**
 * SPIFFE-style identities carried as the URI SAN of every fleet certificate:
 * `spiffe://<fleet>/device/<id>` and `spiffe://<fleet>/site/<id>`. The fleet is the trust domain. Tiers
 * nest by prefix: a site's CA issues only identities under its own path, so a region `r1` issues
 * `spiffe://<fleet>/site/r1/device/<id>` and `spiffe://<fleet>/site/r1/site/<lower>`, and the lower site
 * `spiffe://<fleet>/site/r1/site/<lower>/device/<id>`.
 */
export type SpiffeKind = 'device' | 'site';

export interface SpiffeIdentity {
  readonly fleet: string;
  readonly kind: SpiffeKind;
  readonly id: string;
  /**
   * The path of the site whose delegated CA issued the identity, its ids joined by `/` (`plant-1`, or
   * `r1/plant-7` under a region): for a device enrolled at a site
   * (`spiffe://<fleet>/site/<site>/device/<id>`) or a lower site enrolled at a region
   * (`spiffe://<fleet>/site/<region>/site/<id>`); absent for what the hub issued.
   */
  readonly site?: string;
}

/** How many site tiers an identity may nest below the hub. */
export const MAX_SITE_DEPTH = 4;

/** Longest device or site id accepted, in characters. */
export const MAX_IDENTITY_ID_LENGTH = 128;

// DNS-like, lower case only: SPIFFE trust domains are compared byte for byte, so one spelling per fleet.
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const FLEET = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const ID = /^[A-Za-z0-9._-]+$/;
const SPIFFE_URI = /^spiffe:\/\/([^/]+)\/(.+)$/;

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

/**
 * `spiffe://<fleet>/site/<site>/device/<id>`: a device enrolled at a site, under the site's delegated CA.
 * `site` is the site's path (`r1/plant-7` for a site under region `r1`).
 */
export function siteDeviceSpiffeId(fleet: string, site: string, id: string): string {
  return `${sitePathSpiffeId(fleet, site)}/device/${spiffeId(fleet, 'device', id).split('/').at(-1)}`;
}

/** `spiffe://<fleet>/site/<a>/site/<b>…`: the identity of the site at path `a/b` (ids joined by `/`). */
export function sitePathSpiffeId(fleet: string, sitePath: string): string {
  const ids = splitSitePath(sitePath);
  return ids.reduce(
    (uri, id) => `${uri}/site/${spiffeId(fleet, 'site', id).split('/').at(-1)}`,
    `spiffe://${fleet}`,
  );
}

/** The ids of a site path (`r1/plant-7`), each checked; throws EW_SPIFFE_ID_INVALID naming the bad path. */
export function splitSitePath(sitePath: string): string[] {
  const ids = typeof sitePath === 'string' ? sitePath.split('/') : [];
  if (ids.length === 0 || ids.length > MAX_SITE_DEPTH || !ids.every(isValidIdentityId)) {
    throw new EdgewardError(
      'EW_SPIFFE_ID_INVALID',
      `site path "${sitePath}" is not valid: 1 to ${MAX_SITE_DEPTH} site ids (A-Z a-z 0-9 . _ -) joined by "/"`,
      { details: { sitePath } },
    );
  }
  return ids;
}

/** The path of a site under a parent site path (undefined at the hub). */
export function childSitePath(parent: string | undefined, id: string): string {
  return parent === undefined ? id : `${parent}/${id}`;
}

/** The string form of a parsed identity: `parseSpiffeId(formatSpiffeId(x))` gives `x` back. */
export function formatSpiffeId(identity: SpiffeIdentity): string {
  if (identity.site === undefined) return spiffeId(identity.fleet, identity.kind, identity.id);
  return identity.kind === 'device'
    ? siteDeviceSpiffeId(identity.fleet, identity.site, identity.id)
    : sitePathSpiffeId(identity.fleet, `${identity.site}/${identity.id}`);
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
  const match = SPIFFE_URI.exec(uri);
  if (match === null) return undefined;
  const [, fleet, path] = match;
  if (fleet === undefined || path === undefined || !isValidFleetName(fleet)) return undefined;
  const segments = path.split('/');
  // Pairs of kind and id: `site/<id>` any number of times (within the depth), `device/<id>` only last.
  if (segments.length % 2 !== 0 || segments.length / 2 > MAX_SITE_DEPTH + 1) return undefined;
  const sites: string[] = [];
  for (let index = 0; index < segments.length; index += 2) {
    const kind = segments[index];
    const id = segments[index + 1];
    if (id === undefined || !isValidIdentityId(id)) return undefined;
    const last = index === segments.length - 2;
    if (kind === 'device' && last) {
      return sites.length === 0 ? { fleet, kind, id } : { fleet, kind, id, site: sites.join('/') };
    }
    if (kind !== 'site') return undefined;
    if (last) {
      if (sites.length >= MAX_SITE_DEPTH) return undefined;
      return sites.length === 0 ? { fleet, kind, id } : { fleet, kind, id, site: sites.join('/') };
    }
    sites.push(id);
  }
  return undefined;
}
