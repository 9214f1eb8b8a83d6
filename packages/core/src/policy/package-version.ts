/**
 * Package version ordering as each package manager orders its own versions, so that a policy's
 * `minVersion` means on a device what `apt`, `dnf` or `apk` would make of it: dpkg (Debian, Ubuntu, and
 * opkg, which copies dpkg's rules), rpm (`rpmvercmp` with epoch and release) and apk (Alpine). Each
 * comparator accepts any string, valid or not, and is a total preorder on strings: reflexive,
 * antisymmetric (up to versions the tool itself holds equal, such as dpkg's `1.02` and `1.2`) and
 * transitive, so it can sort.
 */

export type PackageVersionFormat = 'dpkg' | 'rpm' | 'apk';
export type VersionOrder = -1 | 0 | 1;

const sign = (n: number): VersionOrder => (n < 0 ? -1 : n > 0 ? 1 : 0);

const isDigitCode = (c: number): boolean => c >= 48 && c <= 57;
const isAlphaCode = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** Compares two runs of decimal digits by value, however long. */
function compareDigitRuns(a: string, b: string): VersionOrder {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x === y ? 0 : x < y ? -1 : 1;
}

// --- dpkg (lib/dpkg/version.c) ----------------------------------------------------------------------

/** dpkg's character weight: `~` before the end of a part, the end before letters, letters before the rest. */
function dpkgOrder(text: string, index: number): number {
  if (index >= text.length) return 0;
  const c = text.charCodeAt(index);
  if (isDigitCode(c)) return 0;
  if (isAlphaCode(c)) return c;
  if (c === 126) return -1;
  return c + 256;
}

/** dpkg's `verrevcmp`: alternating non-digit parts (by `dpkgOrder`) and numbers (by value). */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const digitAt = (text: string, index: number) => index < text.length && isDigitCode(text.charCodeAt(index));
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !digitAt(a, i)) || (j < b.length && !digitAt(b, j))) {
      const ac = dpkgOrder(a, i);
      const bc = dpkgOrder(b, j);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (digitAt(a, i) && digitAt(b, j)) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (digitAt(a, i)) return 1;
    if (digitAt(b, j)) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

interface DpkgVersion {
  readonly epoch: string;
  readonly upstream: string;
  readonly revision: string;
}

/**
 * `[epoch:]upstream[-revision]`: the epoch ends at the first colon, the revision starts after the last
 * hyphen. dpkg refuses a non-numeric epoch; here it is kept as part of the upstream version instead,
 * so that a malformed version still has a place in the order.
 */
function parseDpkg(text: string): DpkgVersion {
  const version = text.trim();
  const colon = version.indexOf(':');
  const hasEpoch = colon > 0 && /^\d+$/.test(version.slice(0, colon));
  const rest = hasEpoch ? version.slice(colon + 1) : version;
  const hyphen = rest.lastIndexOf('-');
  return {
    epoch: hasEpoch ? version.slice(0, colon) : '0',
    upstream: hyphen < 0 ? rest : rest.slice(0, hyphen),
    revision: hyphen < 0 ? '' : rest.slice(hyphen + 1),
  };
}

/** Orders two Debian package versions as `dpkg --compare-versions` does. */
export function compareDpkgVersions(a: string, b: string): VersionOrder {
  const x = parseDpkg(a);
  const y = parseDpkg(b);
  return (
    compareDigitRuns(x.epoch, y.epoch) ||
    sign(verrevcmp(x.upstream, y.upstream)) ||
    sign(verrevcmp(x.revision, y.revision))
  );
}

// --- rpm (rpmio/rpmvercmp.c) ------------------------------------------------------------------------

/**
 * `rpmvercmp`: runs of digits and runs of ASCII letters are compared in turn (numbers by value, letters
 * by byte, a number beats letters); anything else only separates them. `~` sorts before everything,
 * even the end of the version (`1.0~rc1` < `1.0`); `^` sorts after the end but before anything else
 * (`1.0` < `1.0^git1` < `1.0.1`).
 */
export function rpmvercmp(a: string, b: string): VersionOrder {
  if (a === b) return 0;
  const isSegmentChar = (c: number) => isDigitCode(c) || isAlphaCode(c) || c === 126 || c === 94;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isSegmentChar(a.charCodeAt(i))) i++;
    while (j < b.length && !isSegmentChar(b.charCodeAt(j))) j++;
    const ca = a[i];
    const cb = b[j];
    if (ca === '~' || cb === '~') {
      if (ca !== '~') return 1;
      if (cb !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (ca === '^' || cb === '^') {
      if (ca === undefined) return -1;
      if (cb === undefined) return 1;
      if (ca !== '^') return 1;
      if (cb !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (ca === undefined || cb === undefined) break;
    const numeric = isDigitCode(a.charCodeAt(i));
    const inSegment = numeric ? isDigitCode : isAlphaCode;
    let endA = i;
    let endB = j;
    while (endA < a.length && inSegment(a.charCodeAt(endA))) endA++;
    while (endB < b.length && inSegment(b.charCodeAt(endB))) endB++;
    // b's segment is of the other kind: a number is newer than letters.
    if (endB === j) return numeric ? 1 : -1;
    const segmentA = a.slice(i, endA);
    const segmentB = b.slice(j, endB);
    const order = numeric
      ? compareDigitRuns(segmentA, segmentB)
      : segmentA === segmentB
        ? 0
        : segmentA < segmentB
          ? -1
          : 1;
    if (order !== 0) return order;
    i = endA;
    j = endB;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

interface RpmVersion {
  readonly epoch: string;
  readonly version: string;
  readonly release: string;
}

/** `[epoch:]version[-release]`, split as rpm's parseEVR splits it. */
function parseRpm(text: string): RpmVersion {
  const evr = text.trim();
  const digits = /^\d*/.exec(evr)?.[0] ?? '';
  const hasEpoch = evr[digits.length] === ':';
  const rest = hasEpoch ? evr.slice(digits.length + 1) : evr;
  const hyphen = rest.lastIndexOf('-');
  return {
    epoch: hasEpoch && digits !== '' ? digits : '0',
    version: hyphen < 0 ? rest : rest.slice(0, hyphen),
    release: hyphen < 0 ? '' : rest.slice(hyphen + 1),
  };
}

/**
 * Orders two rpm versions (`[epoch:]version[-release]`): epoch by value (absent is 0), then version and
 * release with `rpmvercmp`. A missing release sorts before any release, where rpm's dependency matching
 * would call it equal to all of them: that reading is not transitive, and a minimum of `9.0` is then
 * met by `9.0-1`, as one expects.
 */
export function compareRpmVersions(a: string, b: string): VersionOrder {
  const x = parseRpm(a);
  const y = parseRpm(b);
  return (
    compareDigitRuns(x.epoch, y.epoch) || rpmvercmp(x.version, y.version) || rpmvercmp(x.release, y.release)
  );
}

// --- apk (apk-tools src/version.c) ------------------------------------------------------------------

/** Token kinds in the order apk-tools numbers them: where two versions differ in kind, it decides. */
const APK_INITIAL_DIGIT = 0;
const APK_DIGIT = 1;
const APK_LETTER = 2;
const APK_SUFFIX = 3;
const APK_SUFFIX_NO = 4;
const APK_COMMIT_HASH = 5;
const APK_REVISION_NO = 6;
const APK_END = 7;
const APK_INVALID = 8;

/** Pre-release suffixes rank below the bare version (`none`), post-release ones above it. */
const apkSuffixes = ['alpha', 'beta', 'pre', 'rc', '', 'cvs', 'svn', 'git', 'hg', 'p'] as const;
const APK_SUFFIX_NONE = apkSuffixes.indexOf('');

interface ApkToken {
  readonly kind: number;
  readonly text: string;
  /** Rank of a suffix in `apkSuffixes`. */
  readonly suffix: number;
}

/**
 * Splits an Alpine version, `digit{.digit}...{letter}{_suffix{digits}}...{~hash}{-r#}`, into tokens up
 * to its end or to the first thing the grammar does not allow (an `invalid` token, which ends it).
 */
function apkTokens(version: string): ApkToken[] {
  const tokens: ApkToken[] = [];
  let at = 0;
  const span = (pattern: RegExp): string => {
    const start = at;
    while (at < version.length && pattern.test(version[at]!)) at++;
    return version.slice(start, at);
  };
  const push = (kind: number, text: string, suffix = 0): number => {
    tokens.push({ kind, text, suffix });
    return kind;
  };
  let kind = push(APK_INITIAL_DIGIT, span(/\d/));
  if (tokens[0]!.text === '') return [{ kind: APK_INVALID, text: '', suffix: 0 }];
  while (kind < APK_END) {
    const c = version[at];
    if (c === undefined) {
      kind = push(APK_END, '');
    } else if (c >= 'a' && c <= 'z') {
      if (kind > APK_DIGIT) break;
      at++;
      kind = push(APK_LETTER, c);
    } else if (c === '.' || (c >= '0' && c <= '9')) {
      if (c === '.') {
        if (kind > APK_DIGIT) break;
        at++;
      }
      let next: number;
      if (kind === APK_INITIAL_DIGIT || kind === APK_DIGIT) next = APK_DIGIT;
      else if (kind === APK_SUFFIX) next = APK_SUFFIX_NO;
      else break;
      const digits = span(/\d/);
      if (digits === '') break;
      kind = push(next, digits);
    } else if (c === '_') {
      if (kind > APK_SUFFIX_NO) break;
      at++;
      const name = span(/[a-z]/);
      const suffix = name === '' ? -1 : apkSuffixes.indexOf(name as (typeof apkSuffixes)[number]);
      if (suffix < 0) break;
      kind = push(APK_SUFFIX, name, suffix);
    } else if (c === '~') {
      if (kind >= APK_COMMIT_HASH) break;
      at++;
      const hash = span(/[0-9a-f]/);
      if (hash === '') break;
      kind = push(APK_COMMIT_HASH, hash);
    } else if (c === '-') {
      if (kind >= APK_REVISION_NO || version[at + 1] !== 'r') break;
      at += 2;
      const digits = span(/\d/);
      if (digits === '') break;
      kind = push(APK_REVISION_NO, digits);
    } else {
      break;
    }
  }
  if (kind < APK_END) tokens.push({ kind: APK_INVALID, text: '', suffix: 0 });
  return tokens;
}

const compareBytes = (a: string, b: string): VersionOrder => (a === b ? 0 : a < b ? -1 : 1);

/** Two tokens of the same kind. */
function compareApkTokens(a: ApkToken, b: ApkToken): VersionOrder {
  switch (a.kind) {
    case APK_DIGIT:
      // A leading zero makes the part a fraction-like string (Gentoo's rule): 1.05 < 1.1 < 1.5.
      if (a.text.startsWith('0') || b.text.startsWith('0')) return compareBytes(a.text, b.text);
      return compareDigitRuns(a.text, b.text);
    case APK_INITIAL_DIGIT:
    case APK_SUFFIX_NO:
    case APK_REVISION_NO:
      return compareDigitRuns(a.text, b.text);
    case APK_SUFFIX:
      return sign(a.suffix - b.suffix);
    default:
      return compareBytes(a.text, b.text);
  }
}

/** Orders two Alpine package versions as `apk version -t` does. */
export function compareApkVersions(a: string, b: string): VersionOrder {
  const x = apkTokens(a.trim());
  const y = apkTokens(b.trim());
  let index = 0;
  for (;;) {
    const ta = x[index]!;
    const tb = y[index]!;
    if (ta.kind !== tb.kind || ta.kind >= APK_END) {
      if (ta.kind === tb.kind) return 0;
      // Equal so far: the longer version is newer, unless what it adds is a pre-release suffix.
      if (ta.kind === APK_SUFFIX && ta.suffix < APK_SUFFIX_NONE) return -1;
      if (tb.kind === APK_SUFFIX && tb.suffix < APK_SUFFIX_NONE) return 1;
      return ta.kind > tb.kind ? -1 : 1;
    }
    const order = compareApkTokens(ta, tb);
    if (order !== 0) return order;
    index++;
  }
}

const comparators: Record<PackageVersionFormat, (a: string, b: string) => VersionOrder> = {
  dpkg: compareDpkgVersions,
  rpm: compareRpmVersions,
  apk: compareApkVersions,
};

/** Orders two versions by the rules of `format`: -1 when `a` is older, 0 when equal, 1 when newer. */
export function comparePackageVersions(format: PackageVersionFormat, a: string, b: string): VersionOrder {
  return comparators[format](a, b);
}
