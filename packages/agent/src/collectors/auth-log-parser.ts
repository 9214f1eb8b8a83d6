/**
 * Reading authentication outcomes from syslog lines and journal messages: OpenSSH, Dropbear, login
 * (shadow, util-linux, BusyBox), su (shadow, util-linux, BusyBox) and sudo. Anything else is ignored.
 */

export type AuthEventType = 'auth.login_failed' | 'auth.login_succeeded' | 'auth.privilege_escalation';

/** One authentication outcome, before it becomes an event. */
export interface AuthFinding {
  readonly type: AuthEventType;
  /** The account tried (sshd, login) or the user who asked for another's rights (su, sudo). */
  readonly user?: string | undefined;
  /** The account whose rights su or sudo gave or refused. */
  readonly targetUser?: string | undefined;
  readonly sourceAddress?: string | undefined;
  readonly sourcePort?: number | undefined;
  /** `password`, `publickey`, `keyboard-interactive/pam`, `invalid_user`, `preauth`, `su`, `sudo`, … */
  readonly method: string;
  readonly tty?: string | undefined;
  readonly command?: string | undefined;
  readonly cwd?: string | undefined;
  readonly reason?: string | undefined;
  /**
   * su and sudo log one outcome on several lines (shadow su: `Successful su`, `+ pts/0 a:b` and the PAM
   * session; sudo: the PAM failure and `3 incorrect password attempts`), all from the same process: the
   * collector keeps one finding per process and type.
   */
  readonly onePerProcess: boolean;
}

export interface SyslogRecord {
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly host: string;
  readonly program: string;
  readonly pid: number | undefined;
  readonly message: string;
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const rfc3164 = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (.*)$/;
const iso8601 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?) (.*)$/;
// BusyBox syslogd may print the facility and level (`authpriv.notice`) between host and tag.
const hostAndTag = /^(\S+) (?:[a-z]+\.[a-z]+ )?([^\s:[]+)(?:\[(\d+)\])?: ?(.*)$/;

/** A line that says a late event is not older than its file: a December line read in January. */
const yearRolloverSlackMs = 2 * 24 * 3600 * 1000;

/**
 * Splits a syslog line: RFC 3164 (`Mar  5 10:11:12 host sshd[42]: …`, local time without a year: the
 * year is the one that puts the line at or before `referenceTime`, the file's mtime) or rsyslog's
 * high-precision format (`2024-03-05T10:11:12.123456+01:00 host sshd[42]: …`).
 */
export function parseSyslogLine(line: string, referenceTime: number): SyslogRecord | undefined {
  let time: number;
  let rest: string;
  const classic = rfc3164.exec(line);
  if (classic !== null) {
    const month = months.indexOf(classic[1] ?? '');
    if (month < 0) return undefined;
    const [day, hour, minute, second] = [classic[2], classic[3], classic[4], classic[5]].map(Number) as [
      number,
      number,
      number,
      number,
    ];
    const year = new Date(referenceTime).getFullYear();
    time = new Date(year, month, day, hour, minute, second).getTime();
    if (time > referenceTime + yearRolloverSlackMs) {
      time = new Date(year - 1, month, day, hour, minute, second).getTime();
    }
    rest = classic[6] ?? '';
  } else {
    const precise = iso8601.exec(line);
    if (precise === null) return undefined;
    time = Date.parse(precise[1] ?? '');
    if (Number.isNaN(time)) return undefined;
    rest = precise[2] ?? '';
  }
  const tagged = hostAndTag.exec(rest);
  if (tagged === null) return undefined;
  return {
    time,
    host: tagged[1] ?? '',
    program: tagged[2] ?? '',
    pid: tagged[3] === undefined ? undefined : Number(tagged[3]),
    message: tagged[4] ?? '',
  };
}

const repeated = /^message repeated (\d+) times: \[ ?(.*?) ?\]$/;

/**
 * rsyslog folds identical lines into `message repeated N times: [ … ]`; the finding is the inner one,
 * counted `repeat` times.
 */
export function unfoldRepeated(message: string): { message: string; repeat: number } {
  const match = repeated.exec(message);
  return match === null ? { message, repeat: 1 } : { message: match[2] ?? '', repeat: Number(match[1]) };
}

/** The authentication outcome a program's message reports, if it reports one. */
export function parseAuthMessage(program: string, message: string): AuthFinding | undefined {
  switch (program) {
    case 'sshd':
    case 'sshd-session':
    case 'sshd-auth':
      return parseSshd(message);
    case 'dropbear':
      return parseDropbear(message);
    case 'login':
      return parseLogin(message);
    case 'su':
      return parseSu(message);
    case 'sudo':
      return parseSudo(message);
    default:
      return undefined;
  }
}

const port = (text: string | undefined): number | undefined =>
  text === undefined ? undefined : Number(text);

const sshdFailed = /^Failed (\S+) for (invalid user )?(.*?) from (\S+) port (\d+)/;
const sshdInvalid = /^Invalid user (.*?) from (\S+)(?: port (\d+))?\s*$/;
const sshdAccepted = /^Accepted (\S+) for (\S+) from (\S+) port (\d+)/;
const sshdClosed = /^(?:Connection closed|Disconnected) by authenticating user (\S+) (\S+) port (\d+)/;

function parseSshd(message: string): AuthFinding | undefined {
  let m = sshdFailed.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_failed',
      method: m[1] ?? 'unknown',
      user: m[3],
      sourceAddress: m[4],
      sourcePort: port(m[5]),
      reason: m[2] === undefined ? undefined : 'invalid user',
      onePerProcess: false,
    };
  }
  m = sshdInvalid.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_failed',
      method: 'invalid_user',
      user: m[1],
      sourceAddress: m[2],
      sourcePort: port(m[3]),
      reason: 'invalid user',
      onePerProcess: false,
    };
  }
  m = sshdAccepted.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_succeeded',
      method: m[1] ?? 'unknown',
      user: m[2],
      sourceAddress: m[3],
      sourcePort: port(m[4]),
      onePerProcess: false,
    };
  }
  m = sshdClosed.exec(message);
  if (m !== null) {
    // The client gave up (or was cut off) before any method succeeded: typically after offering keys.
    return {
      type: 'auth.login_failed',
      method: 'preauth',
      user: m[1],
      sourceAddress: m[2],
      sourcePort: port(m[3]),
      reason: 'closed before authentication',
      onePerProcess: false,
    };
  }
  return undefined;
}

// Dropbear writes `host:port`, IPv6 hosts included (`::1:22` or `[::1]:22` depending on its version).
const dropbearFrom = / from <?\[?([^\s\]]+?)\]?:(\d+)>?/;
const dropbearBad = /^Bad password attempt for '([^']*)'/;
const dropbearNoUser = /^Login attempt for nonexistent user(?: '([^']*)')?/;
const dropbearOk = /^(Password|Pubkey) auth succeeded for '([^']*)'/;

function parseDropbear(message: string): AuthFinding | undefined {
  const from = dropbearFrom.exec(message);
  const source = { sourceAddress: from?.[1], sourcePort: port(from?.[2]) };
  let m = dropbearBad.exec(message);
  if (m !== null) {
    return { type: 'auth.login_failed', method: 'password', user: m[1], ...source, onePerProcess: false };
  }
  m = dropbearNoUser.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_failed',
      method: 'invalid_user',
      user: m[1],
      ...source,
      reason: 'invalid user',
      onePerProcess: false,
    };
  }
  m = dropbearOk.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_succeeded',
      method: m[1] === 'Pubkey' ? 'publickey' : 'password',
      user: m[2],
      ...source,
      onePerProcess: false,
    };
  }
  return undefined;
}

const ttyName = /^(?:\/dev\/)?(?:tty|pts\/|console|hvc|xvc)/;

// shadow: FAILED LOGIN (1) on '/dev/tty1' [from 'host'] FOR 'root', Authentication failure
const shadowFailedLogin = /^FAILED LOGIN \((\d+)\) on '([^']*)'(?: from '([^']*)')? FOR '([^']*)', (.*)$/;
// util-linux: FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure (FROM is the host when remote)
const utilFailedLogin = /^FAILED LOGIN (\d+) FROM (\S+) FOR (.*?), (.*)$/;
// BusyBox: invalid password for 'root' on 'ttyS0' [from 'host']
const busyboxFailedLogin = /^invalid password for '([^']*)'(?: on '([^']*)')?(?: from '([^']*)')?/;
// util-linux: LOGIN ON tty1 BY alice [FROM host]; ROOT LOGIN ON tty1 [FROM host]
const utilLogin = /^(?:ROOT LOGIN ON (\S+)|LOGIN ON (\S+) BY (\S+))(?: FROM (\S+))?$/;
// shadow: ROOT LOGIN  on '/dev/tty1' [from 'host']; BusyBox: root login on 'ttyS0'
const shadowRootLogin = /^(?:ROOT LOGIN {1,2}on|root login on) '([^']*)'(?: from '([^']*)')?/;

function parseLogin(message: string): AuthFinding | undefined {
  let m = shadowFailedLogin.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_failed',
      method: 'password',
      user: m[4],
      tty: m[2],
      sourceAddress: m[3],
      reason: m[5],
      onePerProcess: false,
    };
  }
  m = utilFailedLogin.exec(message);
  if (m !== null) {
    const from = m[2] ?? '';
    const local = ttyName.test(from);
    return {
      type: 'auth.login_failed',
      method: 'password',
      user: m[3],
      tty: local ? from : undefined,
      sourceAddress: local ? undefined : from,
      reason: m[4],
      onePerProcess: false,
    };
  }
  m = busyboxFailedLogin.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_failed',
      method: 'password',
      user: m[1],
      tty: m[2],
      sourceAddress: m[3],
      onePerProcess: false,
    };
  }
  m = utilLogin.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_succeeded',
      method: 'password',
      user: m[3] ?? 'root',
      tty: m[1] ?? m[2],
      sourceAddress: m[4],
      onePerProcess: false,
    };
  }
  m = shadowRootLogin.exec(message);
  if (m !== null) {
    return {
      type: 'auth.login_succeeded',
      method: 'password',
      user: 'root',
      tty: m[1],
      sourceAddress: m[2],
      onePerProcess: false,
    };
  }
  return undefined;
}

const suShadowFailed = /^FAILED su for (\S+) by (\S+)/;
const suUtilFailed = /^FAILED SU \(to (\S+)\) (\S+) on (\S+)/;
const suShadowOk = /^Successful su for (\S+) by (\S+)/;
const suUtilOk = /^\(to (\S+)\) (\S+) on (\S+)/;
// `+ /dev/pts/0 alice:root` (or `-` for a refusal), from shadow's and BusyBox's su.
const suSign = /^([+-]) (\S+) ([^\s:]*):(\S+)$/;
const suSession =
  /^pam_unix\(su(?:-l)?:session\): session opened for user ([^\s(]+)(?:\(uid=\d+\))? by ([^\s(]*)/;

function parseSu(message: string): AuthFinding | undefined {
  const failed = (targetUser?: string, user?: string, tty?: string): AuthFinding => ({
    type: 'auth.login_failed',
    method: 'su',
    user,
    targetUser,
    tty,
    onePerProcess: true,
  });
  const granted = (targetUser?: string, user?: string, tty?: string): AuthFinding => ({
    type: 'auth.privilege_escalation',
    method: 'su',
    user: user === '' ? undefined : user,
    targetUser,
    tty,
    onePerProcess: true,
  });
  let m = suShadowFailed.exec(message);
  if (m !== null) return failed(m[1], m[2]);
  m = suUtilFailed.exec(message);
  if (m !== null) return failed(m[1], m[2], m[3]);
  m = suShadowOk.exec(message);
  if (m !== null) return granted(m[1], m[2]);
  m = suUtilOk.exec(message);
  if (m !== null) return granted(m[1], m[2], m[3]);
  m = suSession.exec(message);
  if (m !== null) return granted(m[1], m[2]);
  m = suSign.exec(message);
  if (m !== null) return m[1] === '+' ? granted(m[4], m[3], m[2]) : failed(m[4], m[3], m[2]);
  return undefined;
}

const sudoLine = /^\s*(\S+) : (.*)$/;
const sudoPamFailure = /^pam_unix\(sudo(?:-i)?:auth\): authentication failure;(.*)$/;

function parseSudo(message: string): AuthFinding | undefined {
  const pam = sudoPamFailure.exec(message);
  if (pam !== null) {
    const fields = new Map<string, string>();
    for (const m of (pam[1] ?? '').matchAll(/(\w+)=(\S*)/g)) fields.set(m[1] ?? '', m[2] ?? '');
    const nonEmpty = (key: string) => (fields.get(key) === '' ? undefined : fields.get(key));
    return {
      type: 'auth.login_failed',
      method: 'sudo',
      user: nonEmpty('ruser') ?? nonEmpty('logname') ?? nonEmpty('user'),
      tty: nonEmpty('tty'),
      sourceAddress: nonEmpty('rhost'),
      reason: 'authentication failure',
      onePerProcess: true,
    };
  }
  const line = sudoLine.exec(message);
  if (line === null) return undefined;
  const user = line[1];
  const rest = line[2] ?? '';
  // COMMAND comes last and may itself hold ` ; `, so it is cut off before the other fields are split.
  const commandAt = rest.startsWith('COMMAND=') ? 0 : rest.indexOf(' ; COMMAND=');
  const command =
    commandAt < 0 ? undefined : rest.slice(commandAt === 0 ? 'COMMAND='.length : commandAt + 11);
  const head = commandAt < 0 ? rest : rest.slice(0, commandAt);
  const fields = new Map<string, string>();
  let reason: string | undefined;
  for (const [index, part] of head.split(' ; ').entries()) {
    const eq = part.indexOf('=');
    if (eq > 0 && /^[A-Z]+$/.test(part.slice(0, eq))) fields.set(part.slice(0, eq), part.slice(eq + 1));
    else if (index === 0 && part !== '') reason = part.trim();
  }
  if (!fields.has('TTY') && !fields.has('USER') && command === undefined) return undefined;
  return {
    type: reason === undefined ? 'auth.privilege_escalation' : 'auth.login_failed',
    method: 'sudo',
    user,
    targetUser: fields.get('USER') ?? 'root',
    tty: fields.get('TTY'),
    cwd: fields.get('PWD'),
    command,
    reason,
    onePerProcess: true,
  };
}
