import { BlockList, isIP } from 'node:net';
import { listInRoot, readTextInRoot } from './root-files.ts';

/**
 * sshd_config as sshd itself reads it (sshd_config(5), servconf.c), for judging settings on a device
 * without running `sshd -T`, which needs host keys, root and the live system:
 *
 * - keywords are case-insensitive; `Keyword value`, `Keyword=value` and quoted arguments are accepted;
 *   a `#` that starts an argument ends the line;
 * - the first value obtained for a keyword wins (later ones are ignored);
 * - `Include` takes globs, relative ones under /etc/ssh, expanded in sorted order and read in place;
 *   includes nest up to 16 deep, as in sshd;
 * - a `Match` block lasts until the next `Match` or the end of the file it is in (an included file's
 *   block ends with that file); for a given connection, the first value from a matching block
 *   overrides the global one, as `sshd -T -C` shows. `Match all` applies to every connection, and so
 *   to the global settings too.
 */

export interface SshdConnection {
  readonly user?: string | undefined;
  readonly host?: string | undefined;
  readonly address?: string | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

export interface SshdMatchBlock {
  /** The words after `Match`. */
  readonly criteria: readonly string[];
  readonly file: string;
  readonly line: number;
}

export interface SshdDirective {
  /** Lower case, deprecated aliases replaced by their current name. */
  readonly keyword: string;
  readonly args: readonly string[];
  readonly file: string;
  readonly line: number;
  /** The `Match` block it sits in, if any. */
  readonly block: SshdMatchBlock | undefined;
}

export interface SshdConfig {
  readonly directives: readonly SshdDirective[];
  /** What could not be read or followed (an unreadable include, nesting too deep). */
  readonly notes: readonly string[];
}

export type SshdConfigLoad =
  | { readonly ok: true; readonly config: SshdConfig }
  | { readonly ok: false; readonly missing: boolean; readonly reason: string };

/** sshd's SERVCONF_MAX_DEPTH. */
const maxIncludeDepth = 16;

/** Old names sshd still accepts for a keyword. */
const aliases: Readonly<Record<string, string>> = {
  challengeresponseauthentication: 'kbdinteractiveauthentication',
  pubkeyacceptedkeytypes: 'pubkeyacceptedalgorithms',
  hostbasedacceptedkeytypes: 'hostbasedacceptedalgorithms',
};

/** Keywords whose every occurrence adds to the setting instead of the first one winning. */
const accumulating = new Set([
  'port',
  'listenaddress',
  'hostkey',
  'acceptenv',
  'allowusers',
  'denyusers',
  'allowgroups',
  'denygroups',
]);

/**
 * sshd's compiled-in defaults (OpenSSH 8.7 and later) for keywords that matter to security, used when a
 * configuration does not set them. Algorithm lists are left out: their defaults change with each release.
 */
export const SSHD_DEFAULTS: Readonly<Record<string, string>> = {
  permitrootlogin: 'prohibit-password',
  passwordauthentication: 'yes',
  permitemptypasswords: 'no',
  pubkeyauthentication: 'yes',
  kbdinteractiveauthentication: 'yes',
  hostbasedauthentication: 'no',
  ignorerhosts: 'yes',
  x11forwarding: 'no',
  maxauthtries: '6',
  maxsessions: '10',
  logingracetime: '120',
  permituserenvironment: 'no',
  strictmodes: 'yes',
  permittunnel: 'no',
  gatewayports: 'no',
  allowtcpforwarding: 'yes',
  allowagentforwarding: 'yes',
  clientaliveinterval: '0',
  loglevel: 'INFO',
};

export const canonicalKeyword = (keyword: string): string => {
  const lower = keyword.toLowerCase();
  return aliases[lower] ?? lower;
};

/** Splits arguments as OpenSSH's argv_split: whitespace-separated, quotes group, `#` starts a comment. */
export function splitArguments(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
  while (i < text.length) {
    while (isSpace(text[i])) i++;
    if (i >= text.length || text[i] === '#') break;
    let arg = '';
    let quote: string | undefined;
    for (; i < text.length; i++) {
      const c = text[i]!;
      const next = text[i + 1];
      if (quote !== undefined) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && (next === quote || next === '\\')) arg += text[++i];
        else arg += c;
      } else if (isSpace(c)) {
        break;
      } else if (c === '"' || c === "'") {
        quote = c;
      } else if (
        c === '\\' &&
        next !== undefined &&
        (next === '"' || next === "'" || next === '\\' || isSpace(next))
      ) {
        arg += text[++i];
      } else {
        arg += c;
      }
    }
    args.push(arg);
  }
  return args;
}

/** One configuration line: the keyword (before whitespace or a single `=`) and its arguments. */
export function parseSshdLine(line: string): { keyword: string; args: string[] } | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const parsed = /^([^\s=]+)\s*(?:=\s*)?(.*)$/.exec(trimmed);
  if (parsed?.[1] === undefined) return undefined;
  return { keyword: parsed[1], args: splitArguments(parsed[2] ?? '') };
}

/** A glob(3) pattern for one path component; like glob, `*` does not match a leading dot. */
function componentPattern(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        source += '\\[';
        continue;
      }
      let set = glob.slice(i + 1, close);
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      source += `[${set.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The files an `Include` argument names under the root, sorted as glob(3) sorts them. */
export async function expandInclude(root: string, argument: string): Promise<string[]> {
  const absolute = argument.startsWith('/') ? argument : `/etc/ssh/${argument}`;
  let paths = [''];
  for (const part of absolute.split('/').filter((p) => p !== '')) {
    if (!/[*?[]/.test(part)) {
      paths = paths.map((base) => `${base}/${part}`);
      continue;
    }
    const pattern = componentPattern(part);
    const next: string[] = [];
    for (const base of paths) {
      const listing = await listInRoot(root, base === '' ? '/' : base);
      if (listing.kind !== 'found') continue;
      for (const entry of listing.entries) {
        if (entry.name.startsWith('.') && !part.startsWith('.')) continue;
        if (pattern.test(entry.name)) next.push(`${base}/${entry.name}`);
      }
    }
    paths = next;
  }
  return paths.sort();
}

/** Reads sshd's configuration from `configPath` under `root`, with its includes. */
export async function loadSshdConfig(root: string, configPath: string): Promise<SshdConfigLoad> {
  const directives: SshdDirective[] = [];
  const notes: string[] = [];

  async function readFile(path: string, depth: number, inherited: SshdMatchBlock | undefined): Promise<void> {
    let block = inherited;
    const read = await readTextInRoot(root, path);
    if (read.kind !== 'text') {
      // sshd skips an include that vanished between glob and open; one it cannot read is worth telling.
      if (read.kind === 'unreadable') notes.push(`could not read ${path}: ${read.reason}`);
      return;
    }
    const lines = read.text.split('\n');
    for (let index = 0; index < lines.length; index++) {
      const parsed = parseSshdLine(lines[index]!);
      if (parsed === undefined) continue;
      const keyword = canonicalKeyword(parsed.keyword);
      const line = index + 1;
      if (keyword === 'match') {
        block = { criteria: parsed.args, file: path, line };
      } else if (keyword === 'include') {
        if (depth >= maxIncludeDepth) {
          notes.push(
            `Include at ${path}:${line} nests deeper than ${maxIncludeDepth} files and was not followed`,
          );
          continue;
        }
        for (const argument of parsed.args) {
          for (const included of await expandInclude(root, argument))
            await readFile(included, depth + 1, block);
        }
      } else {
        directives.push({ keyword, args: parsed.args, file: path, line, block });
      }
    }
  }

  const top = await readTextInRoot(root, configPath);
  if (top.kind === 'missing') return { ok: false, missing: true, reason: `${configPath} does not exist` };
  if (top.kind === 'unreadable')
    return { ok: false, missing: false, reason: `cannot read ${configPath}: ${top.reason}` };
  await readFile(configPath, 0, undefined);
  return { ok: true, config: { directives, notes } };
}

// --- Match ------------------------------------------------------------------------------------------

function wildcard(pattern: string, ignoreCase: boolean): RegExp {
  const source = pattern
    .replace(/[.+^${}()|[\]\\/]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '');
}

/**
 * OpenSSH's match_pattern_list: comma-separated wildcards, any positive one must match and no
 * negated (`!`) one may.
 */
export function matchPatternList(value: string, list: string, ignoreCase = false): boolean {
  let positive = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!wildcard(pattern, ignoreCase).test(value)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

function inSubnet(address: string, cidr: string): boolean {
  const [network, bits] = cidr.split('/');
  const family = isIP(network ?? '');
  if (family === 0 || family !== isIP(address) || bits === undefined || !/^\d+$/.test(bits)) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  try {
    const subnet = new BlockList();
    subnet.addSubnet(network!, Number(bits), type);
    return subnet.check(address, type);
  } catch {
    return false;
  }
}

/** OpenSSH's addr_match_list: like `matchPatternList`, and an entry with a `/` is a CIDR block. */
export function matchAddressList(address: string, list: string): boolean {
  let positive = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const entry = negated ? raw.slice(1) : raw;
    const matches = entry.includes('/') ? inSubnet(address, entry) : wildcard(entry, false).test(address);
    if (!matches) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

export interface MatchResult {
  readonly applies: boolean;
  /** Why a criterion could not be judged (Group needs the user's groups, which are not looked up). */
  readonly note?: string;
}

/**
 * Whether a `Match` block applies to `connection`. Like `sshd -T -C`, a criterion about something the
 * connection does not say (no user given, say) does not match.
 */
export function matchBlockApplies(block: SshdMatchBlock, connection: SshdConnection): MatchResult {
  const words = block.criteria;
  if (words.length === 1 && words[0]!.toLowerCase() === 'all') return { applies: true };
  if (words.length === 0 || words.length % 2 !== 0) {
    return { applies: false, note: `Match at ${block.file}:${block.line} is malformed and was skipped` };
  }
  for (let i = 0; i < words.length; i += 2) {
    const criterion = words[i]!.toLowerCase();
    const value = words[i + 1]!;
    let matches: boolean;
    switch (criterion) {
      case 'user':
        matches = connection.user !== undefined && matchPatternList(connection.user, value);
        break;
      case 'host':
        matches =
          connection.host !== undefined && matchPatternList(connection.host.toLowerCase(), value, true);
        break;
      case 'address':
        matches = connection.address !== undefined && matchAddressList(connection.address, value);
        break;
      case 'localaddress':
        matches = connection.localAddress !== undefined && matchAddressList(connection.localAddress, value);
        break;
      case 'localport':
        matches = connection.localPort !== undefined && String(connection.localPort) === value;
        break;
      case 'group':
        return {
          applies: false,
          note: `Match Group at ${block.file}:${block.line} was not evaluated (group membership is not looked up)`,
        };
      default:
        return { applies: false, note: `Match ${words[i]} at ${block.file}:${block.line} is not evaluated` };
    }
    if (!matches) return { applies: false };
  }
  return { applies: true };
}

// --- effective values -------------------------------------------------------------------------------

export interface EffectiveSetting {
  /** `undefined` when neither the configuration nor a known default gives one. */
  readonly value: string | undefined;
  /** The directive that decided; absent when the value is sshd's default or unknown. */
  readonly from?: SshdDirective;
  readonly isDefault: boolean;
  /** Match blocks setting this keyword that could not be judged. */
  readonly notes: readonly string[];
}

const isMatchAll = (block: SshdMatchBlock | undefined) =>
  block !== undefined && block.criteria.length === 1 && block.criteria[0]!.toLowerCase() === 'all';

function settingValue(keyword: string, directives: readonly SshdDirective[]): string {
  if (accumulating.has(keyword)) return directives.flatMap((d) => d.args).join(',');
  const value = directives[0]!.args.join(' ');
  return keyword === 'permitrootlogin' && value.toLowerCase() === 'without-password'
    ? 'prohibit-password'
    : value;
}

/**
 * The value sshd uses for `keyword`: for a connection, the first from a matching `Match` block, else
 * the first global one, else sshd's compiled-in default where known.
 */
export function effectiveSetting(
  config: SshdConfig,
  keyword: string,
  connection?: SshdConnection,
): EffectiveSetting {
  const wanted = canonicalKeyword(keyword);
  const notes: string[] = [];
  const judged = new Map<SshdMatchBlock, boolean>();
  const applies = (block: SshdMatchBlock): boolean => {
    let known = judged.get(block);
    if (known === undefined) {
      const result = matchBlockApplies(block, connection ?? {});
      if (result.note !== undefined) notes.push(result.note);
      known = result.applies;
      judged.set(block, known);
    }
    return known;
  };
  const candidates = config.directives.filter((d) => d.keyword === wanted);
  const scopes = [
    connection === undefined ? [] : candidates.filter((d) => d.block !== undefined && applies(d.block)),
    candidates.filter((d) => d.block === undefined || isMatchAll(d.block)),
  ];
  for (const scope of scopes) {
    if (scope.length === 0) continue;
    const decisive = accumulating.has(wanted) ? scope : scope.slice(0, 1);
    return { value: settingValue(wanted, decisive), from: scope[0]!, isDefault: false, notes };
  }
  const fallback = SSHD_DEFAULTS[wanted];
  return { value: fallback, isDefault: fallback !== undefined, notes };
}
