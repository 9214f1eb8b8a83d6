import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import {
  deviceSpiffeId,
  formatSpiffeId,
  isValidFleetName,
  isValidIdentityId,
  MAX_SITE_DEPTH,
  parseSpiffeId,
  type SpiffeIdentity,
  siteDeviceSpiffeId,
  sitePathSpiffeId,
  siteSpiffeId,
  spiffeId,
} from './spiffe.ts';

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/).filter((text) => text.length <= 63);
const fleet = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
const id = fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/).filter((text) => text !== '.' && text !== '..');
const kind = fc.constantFrom('device' as const, 'site' as const);

describe('SPIFFE ids', () => {
  it('builds the documented forms', () => {
    assert.equal(deviceSpiffeId('acme.example', 'dev-1'), 'spiffe://acme.example/device/dev-1');
    assert.equal(siteSpiffeId('acme.example', 'hq_1.a'), 'spiffe://acme.example/site/hq_1.a');
  });

  it('parses back every id it builds, to the same parts', () => {
    fc.assert(
      fc.property(fleet, kind, id, (f, k, i) => {
        assert.deepEqual(parseSpiffeId(spiffeId(f, k, i)), { fleet: f, kind: k, id: i });
      }),
    );
  });

  it('accepts a string only in the exact form it builds, so equal ids are equal strings', () => {
    const near = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.tuple(fleet, kind, id, fc.string({ maxLength: 4 }), fc.nat(4)).map(([f, k, i, noise, at]) => {
        const text = `spiffe://${f}/${k}/${i}`;
        const position = Math.min(at * 7, text.length);
        return text.slice(0, position) + noise + text.slice(position);
      }),
    );
    fc.assert(
      fc.property(near, (candidate) => {
        const parsed = parseSpiffeId(candidate);
        if (parsed !== undefined) assert.equal(formatSpiffeId(parsed), candidate);
      }),
    );
  });

  it('reads a device enrolled at a site, under its site', () => {
    fc.assert(
      fc.property(fleet, id, id, (f, site, device) => {
        const uri = siteDeviceSpiffeId(f, site, device);
        assert.equal(uri, `spiffe://${f}/site/${site}/device/${device}`);
        assert.deepEqual(parseSpiffeId(uri), { fleet: f, kind: 'device', id: device, site });
        assert.equal(formatSpiffeId({ fleet: f, kind: 'device', id: device, site }), uri);
      }),
    );
    assert.equal(parseSpiffeId('spiffe://acme.example/site/../device/d'), undefined);
  });

  it('reads nested tiers by prefix: a lower site under its region, and its devices under both', () => {
    fc.assert(
      fc.property(fleet, id, id, id, (f, region, lower, device) => {
        const siteUri = sitePathSpiffeId(f, `${region}/${lower}`);
        assert.equal(siteUri, `spiffe://${f}/site/${region}/site/${lower}`);
        assert.deepEqual(parseSpiffeId(siteUri), { fleet: f, kind: 'site', id: lower, site: region });
        const deviceUri = siteDeviceSpiffeId(f, `${region}/${lower}`, device);
        assert.equal(deviceUri, `${siteUri}/device/${device}`);
        const parsed = parseSpiffeId(deviceUri);
        assert.deepEqual(parsed, { fleet: f, kind: 'device', id: device, site: `${region}/${lower}` });
        assert.equal(formatSpiffeId(parsed as SpiffeIdentity), deviceUri);
      }),
    );
    assert.equal(
      parseSpiffeId('spiffe://acme.example/device/d/site/s'),
      undefined,
      'a device has nothing below',
    );
    assert.equal(parseSpiffeId('spiffe://acme.example/site/a/device/d/device/e'), undefined);
    const tooDeep = `spiffe://acme.example${'/site/s'.repeat(MAX_SITE_DEPTH + 1)}`;
    assert.equal(parseSpiffeId(tooDeep), undefined, 'deeper than the tiers allowed');
    assert.throws(() => sitePathSpiffeId('acme.example', 'r1//p'), /site path "r1\/\/p" is not valid/);
  });

  for (const rejected of [
    'SPIFFE://acme.example/device/d',
    'spiffe://Acme.example/device/d',
    'spiffe://acme.example/device/d/',
    'spiffe://acme.example/device/',
    'spiffe://acme.example/device/..',
    'spiffe://acme.example/device/a/b',
    'spiffe://acme.example/user/d',
    'spiffe://acme.example:443/device/d',
    'spiffe://user@acme.example/device/d',
    'spiffe://acme.example/device/d?x=1',
    'spiffe://acme.example/device/d#x',
    'spiffe://acme.example/device/d%20',
    'spiffe://-acme.example/device/d',
    'spiffe://acme..example/device/d',
    'https://acme.example/device/d',
    `spiffe://acme.example/device/${'a'.repeat(129)}`,
  ]) {
    it(`does not parse ${JSON.stringify(rejected.slice(0, 60))}`, () => {
      assert.equal(parseSpiffeId(rejected), undefined);
    });
  }

  it('refuses to build an id from a bad fleet or id, naming it', () => {
    assert.throws(
      () => deviceSpiffeId('Acme Corp', 'd'),
      (error) => isEdgewardError(error, 'EW_SPIFFE_ID_INVALID') && error.message.includes('Acme Corp'),
    );
    assert.throws(
      () => siteSpiffeId('acme.example', 'a/b'),
      (error) => isEdgewardError(error, 'EW_SPIFFE_ID_INVALID') && error.message.includes('a/b'),
    );
  });

  it('limits fleet names to DNS lengths', () => {
    assert.equal(isValidFleetName('a'.repeat(63)), true);
    assert.equal(isValidFleetName('a'.repeat(64)), false);
    assert.equal(isValidFleetName(Array(64).fill('abc').join('.')), false);
    assert.equal(isValidIdentityId('.'), false);
  });
});
