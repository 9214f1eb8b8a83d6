import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  compareApkVersions,
  compareDpkgVersions,
  comparePackageVersions,
  compareRpmVersions,
  type PackageVersionFormat,
  rpmvercmp,
  type VersionOrder,
} from './package-version.ts';

type Vector = readonly [string, '<' | '=' | '>', string];
const expected: Record<Vector[1], VersionOrder> = { '<': -1, '=': 0, '>': 1 };

function assertVectors(compare: (a: string, b: string) => VersionOrder, vectors: readonly Vector[]): void {
  for (const [a, relation, b] of vectors) {
    assert.equal(compare(a, b), expected[relation], `${a} ${relation} ${b}`);
    assert.equal(compare(b, a), -expected[relation] || 0, `${b} reversed against ${a}`);
  }
}

describe('compareDpkgVersions', () => {
  it('orders the cases of dpkg lib/dpkg/t/t-version.c', () => {
    assertVectors(compareDpkgVersions, [
      ['0:0-0', '=', '0:0-0'],
      ['1:0-0', '<', '2:0-0'],
      ['1-1', '<', '2-1'],
      ['1-1', '<', '1-2'],
      ['0-00', '=', '00-0'],
      ['1:2-3', '=', '1:2-3'],
      ['0:0-0', '<', '1:0-0'],
      ['a-0', '<', 'b-0'],
      ['0-a', '<', '0-b'],
      // parseversion: an absent epoch is 0 and an absent or empty revision is empty.
      ['0', '=', '0:0'],
      ['0', '=', '0:0-'],
      ['0:0-0', '=', '0-0'],
      ['0:0.0-0.0', '=', '0.0-0.0'],
      ['1:0', '>', '0:9'],
      ['5:1', '=', '5:1-'],
      // The revision starts after the last hyphen; colons after the epoch belong to the version.
      ['0:0-0-0', '>', '0:0-0'],
      ['0:0:0-0', '>', '0:0-0'],
      ['  \t0:0-1', '=', '0:0-1  \t'],
    ]);
  });

  it('sorts tilde before the end, the end before letters, letters before other characters', () => {
    assertVectors(compareDpkgVersions, [
      ['1~~', '<', '1~~a'],
      ['1~~a', '<', '1~'],
      ['1~', '<', '1'],
      ['1', '<', '1a'],
      ['1a', '<', '1+'],
      ['1.0~rc1', '<', '1.0'],
      ['1.0', '<', '1.0.1'],
      ['1.0-1', '<', '1.0-1+b1'],
      ['1.02', '=', '1.2'],
      ['2:1.0', '>', '1:9.9'],
      ['3.0.11-1~deb12u2', '<', '3.0.11-1'],
      ['1:9.2p1-2+deb12u3', '>', '1:9.2p1-2+deb12u2'],
      ['1.2.3-1ubuntu1', '>', '1.2.3-1'],
      ['10', '>', '9'],
      ['1.10', '>', '1.9'],
    ]);
  });
});

describe('compareRpmVersions', () => {
  it('orders the cases of rpm tests/rpmvercmp.at', () => {
    assertVectors(rpmvercmp, [
      ['1.0', '=', '1.0'],
      ['1.0', '<', '2.0'],
      ['2.0.1', '=', '2.0.1'],
      ['2.0', '<', '2.0.1'],
      ['2.0.1a', '=', '2.0.1a'],
      ['2.0.1a', '>', '2.0.1'],
      ['5.5p1', '=', '5.5p1'],
      ['5.5p1', '<', '5.5p2'],
      ['5.5p10', '=', '5.5p10'],
      ['5.5p1', '<', '5.5p10'],
      ['10xyz', '<', '10.1xyz'],
      ['xyz10', '=', 'xyz10'],
      ['xyz10', '<', 'xyz10.1'],
      ['xyz.4', '=', 'xyz.4'],
      ['xyz.4', '<', '8'],
      ['xyz.4', '<', '2'],
      ['5.5p2', '<', '5.6p1'],
      ['5.6p1', '<', '6.5p1'],
      ['6.0.rc1', '>', '6.0'],
      ['10b2', '>', '10a1'],
      ['10a2', '<', '10b2'],
      ['1.0aa', '=', '1.0aa'],
      ['1.0a', '<', '1.0aa'],
      ['10.0001', '=', '10.0001'],
      ['10.0001', '=', '10.1'],
      ['10.0001', '<', '10.0039'],
      ['4.999.9', '<', '5.0'],
      ['20101121', '=', '20101121'],
      ['20101121', '<', '20101122'],
      ['2_0', '=', '2_0'],
      ['2.0', '=', '2_0'],
      ['a', '=', 'a'],
      ['a+', '=', 'a+'],
      ['a+', '=', 'a_'],
      ['+a', '=', '+a'],
      ['+a', '=', '_a'],
      ['+_', '=', '+_'],
      ['_+', '=', '+_'],
      ['+', '=', '_'],
      ['1.0~rc1', '=', '1.0~rc1'],
      ['1.0~rc1', '<', '1.0'],
      ['1.0~rc1', '<', '1.0~rc2'],
      ['1.0~rc1~git123', '=', '1.0~rc1~git123'],
      ['1.0~rc1~git123', '<', '1.0~rc1'],
      ['1.0^', '=', '1.0^'],
      ['1.0^', '>', '1.0'],
      ['1.0^git1', '=', '1.0^git1'],
      ['1.0^git1', '>', '1.0'],
      ['1.0^git1', '<', '1.0^git2'],
      ['1.0^git1', '<', '1.01'],
      ['1.0^20160101', '=', '1.0^20160101'],
      ['1.0^20160101', '<', '1.0.1'],
      ['1.0^20160101^git1', '=', '1.0^20160101^git1'],
      ['1.0^20160102', '>', '1.0^20160101^git1'],
      ['1.0~rc1^git1', '=', '1.0~rc1^git1'],
      ['1.0~rc1^git1', '>', '1.0~rc1'],
      ['1.0^git1~pre', '=', '1.0^git1~pre'],
      ['1.0^git1', '>', '1.0^git1~pre'],
      // Documented oddities of rpmvercmp, kept as rpm has them.
      ['1b.fc17', '<', '1.fc17'],
      ['1g.fc17', '>', '1.fc17'],
    ]);
  });

  it('compares the epoch first, then the version, then the release', () => {
    assertVectors(compareRpmVersions, [
      ['1:1.0-1', '>', '0:2.0-1'],
      ['2.0-1', '=', '0:2.0-1'],
      ['1.0-1', '<', '1.0-2'],
      ['1.0', '<', '1.0-1'],
      ['3.0.7-27.el9', '<', '1:3.0.7-24.el9'],
      ['1:3.0.7-27.el9', '>', '1:3.0.7-24.el9'],
      ['9.0-10.el9', '>', '9.0-9.el9'],
      [':1.0', '=', '0:1.0'],
    ]);
  });
});

describe('compareApkVersions', () => {
  it('orders the cases of apk-tools test/version.data', () => {
    assertVectors(compareApkVersions, [
      ['2.34', '>', '0.1.0_alpha'],
      ['23_foo', '>', '4_beta'],
      ['1.0', '<', '1.0bc'],
      ['0.1.0_alpha', '=', '0.1.0_alpha'],
      ['0.1.0_alpha2', '>', '0.1.0_alpha'],
      ['1.0.4-r3', '<', '1.0.4-r4'],
      ['1.1', '>', '1.1_alpha1'],
      ['1.2.1', '>', '1.2'],
      ['1.2', '<', '1.3_alpha'],
      ['1.3_alpha2', '<', '1.3_alpha3'],
      ['0.8_beta1', '<', '0.8_beta2'],
      ['2.3.0b-r1', '<', '2.3.0b-r2'],
      ['0.12.3', '>', '0.12'],
      ['3.1_p16', '<', '3.1_p17'],
      ['1.06-r6', '<', '006'],
      ['006', '>', '1.0.0'],
      ['1.2.2-r1', '>', '1.2.2'],
      ['20050718-r1', '<', '20050718-r2'],
      ['3.9.8-r5', '>', '2.01.01_alpha10'],
      ['2.01.01_alpha10', '>', '0.94'],
      ['1.00_beta2', '>', '0.9.2'],
      ['1.02', '<', '1.03-r1'],
      ['4.2.52_p2-r1', '<', '4.2.52_p4-r2'],
      ['20060720', '>', '3.0.20060720'],
      ['2.5.1-r8', '<', '2.5.1a-r1'],
      ['3.9_pre20060124', '>', '0.01'],
      ['0.01', '<', '0.06'],
      ['6b-r7', '>', '1.12-r7'],
      ['0.10.0-r1', '>', '0.10.0'],
      ['0.10.0', '<', '0.10.1_rc1'],
      ['0.9.11', '<', '394'],
      ['1.1a', '<', '1.3a'],
      ['0.15.1b-r2', '>', '0.15.1b'],
      ['22.7.3-r1', '>', '22.7'],
      ['2.1_pre20', '<', '2.1_pre26'],
      ['2.10.1', '>', '02.08.01b'],
      ['1.6d', '>', '1.2.07.8'],
      ['1.2.07.8', '<', '1.2.12.04'],
      ['1.07-r1', '<', '1.07.5'],
      ['0.1_pre20060810', '<', '0.1_pre20060817'],
      ['0.59s-r11', '<', '0.65'],
      ['0.20070118', '<', '0.20070207_rc1'],
      ['4.5_p1-r1', '>', '4.5_p1'],
      ['0.9.8c-r1', '<', '0.9.8d'],
      ['2.2.3-r2', '<', '013'],
      ['1.7', '<', '1.7b'],
      ['1.8.5', '<', '1.8.5_p2'],
      ['0.98', '<', '1.00'],
      ['2.9.11_pre20051101-r3', '>', '2.9.11_pre20051101'],
      ['1.6.8_p12-r1', '>', '1.6.8_p9-r2'],
      ['0.9.28-r2', '<', '0.9.28.1'],
      ['0.9.28.1', '<', '087-r1'],
      ['104-r11', '>', '104-r9'],
      ['2.12r-r4', '<', '2.12r-r5'],
      ['7.0.17', '<', '7.0.174'],
      ['1.3-r0', '<', '1.3.1-r0'],
      ['1.3_pre1-r1', '<', '1.3.2'],
      ['1.0_p10-r0', '>', '1.0_p9-r0'],
      ['0.1.0_alpha_pre2', '<', '0.1.0_alpha'],
      ['1.0.0_pre20191002222144-r0', '<', '1.0.0_pre20210530193627-r0'],
    ]);
  });

  it('ranks suffixes: alpha < beta < pre < rc < none < cvs < svn < git < hg < p', () => {
    const ladder = [
      '1.0_alpha',
      '1.0_beta',
      '1.0_pre',
      '1.0_rc',
      '1.0',
      '1.0_cvs',
      '1.0_svn',
      '1.0_git',
      '1.0_hg',
      '1.0_p',
    ];
    for (let i = 0; i + 1 < ladder.length; i++) {
      assert.equal(compareApkVersions(ladder[i]!, ladder[i + 1]!), -1, `${ladder[i]} < ${ladder[i + 1]}`);
    }
  });

  it('orders the versions Alpine ships: revisions, commit hashes, and invalid ones last', () => {
    assertVectors(compareApkVersions, [
      ['9.7_p1-r4', '>', '9.7_p1-r3'],
      ['9.7_p1-r4', '<', '9.8_p1-r0'],
      ['9.7_p1', '>', '9.7'],
      ['1.2.3~abc123-r0', '>', '1.2.3-r0'],
      ['1.2.3~abc-r0', '<', '1.2.3~abd-r0'],
      ['1.0', '>', 'abc'],
      ['', '=', 'not a version'],
    ]);
  });
});

// --- properties -------------------------------------------------------------------------------------

const fromChars = (chars: string, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...chars.split('')), maxLength });

const dpkgVersion = fromChars('0123456789abzAZ.+~-', 10);
const rpmVersion = fromChars('0123456789abzAZ._+~^-', 10);
const apkVersion = fc
  .tuple(
    fc.array(fc.constantFrom('0', '1', '2', '10', '01', '007'), { minLength: 1, maxLength: 4 }),
    fc.option(fc.constantFrom('a', 'b', 'z')),
    fc.array(
      fc.tuple(
        fc.constantFrom('alpha', 'beta', 'pre', 'rc', 'cvs', 'git', 'p'),
        fc.constantFrom('', '1', '2', '10'),
      ),
      { maxLength: 2 },
    ),
    fc.option(fc.constantFrom('~ab12', '~ff')),
    fc.option(fc.constantFrom('-r0', '-r1', '-r10')),
  )
  .map(
    ([numbers, letter, suffixes, hash, revision]) =>
      numbers.join('.') +
      (letter ?? '') +
      suffixes.map(([name, n]) => `_${name}${n}`).join('') +
      (hash ?? '') +
      (revision ?? ''),
  );
const anyApkVersion = fc.oneof(apkVersion, fromChars('0123456789.abr_-~p', 10));

const cases: { format: PackageVersionFormat; version: fc.Arbitrary<string> }[] = [
  { format: 'dpkg', version: dpkgVersion },
  { format: 'rpm', version: rpmVersion },
  { format: 'apk', version: anyApkVersion },
];

describe('package version order properties', () => {
  for (const { format, version } of cases) {
    const compare = (a: string, b: string) => comparePackageVersions(format, a, b);

    it(`${format}: every version equals itself`, () => {
      fc.assert(fc.property(fc.oneof(version, fc.string()), (v) => compare(v, v) === 0));
    });

    it(`${format}: swapping the operands negates the result`, () => {
      fc.assert(
        fc.property(fc.oneof(version, fc.string()), fc.oneof(version, fc.string()), (a, b) => {
          assert.equal(compare(a, b), -compare(b, a) || 0);
        }),
      );
    });

    it(`${format}: the order is transitive (a sorted list is ordered pairwise)`, () => {
      fc.assert(
        fc.property(fc.array(version, { minLength: 3, maxLength: 12 }), (versions) => {
          const sorted = [...versions].sort(compare);
          for (let i = 0; i < sorted.length; i++) {
            for (let j = i + 1; j < sorted.length; j++) {
              assert.ok(compare(sorted[i]!, sorted[j]!) <= 0, `${sorted[i]} after ${sorted[j]} in ${sorted}`);
            }
          }
        }),
        { numRuns: 500 },
      );
    });
  }

  for (const format of ['dpkg', 'rpm'] as const) {
    const version = format === 'dpkg' ? dpkgVersion : rpmVersion;
    it(`${format}: a higher epoch wins whatever the versions`, () => {
      fc.assert(
        fc.property(fc.nat(1000), fc.integer({ min: 1, max: 1000 }), version, version, (low, gap, a, b) => {
          assert.equal(comparePackageVersions(format, `${low + gap}:${a}`, `${low}:${b}`), 1);
        }),
      );
    });
  }
});
