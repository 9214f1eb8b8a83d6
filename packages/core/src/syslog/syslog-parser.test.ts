import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ParsedSyslogMessage, SyslogMessage } from './syslog-message.ts';
import { parseSyslog } from './syslog-parser.ts';

const receivedAt = Date.parse('2025-05-12T10:20:00Z');

function parsed(text: string | Uint8Array, at = receivedAt): SyslogMessage {
  const message = parseSyslog(text, { receivedAt: at });
  assert.notEqual(message.format, 'malformed', JSON.stringify(message));
  return message as SyslogMessage;
}

function malformed(text: string | Uint8Array): Extract<ParsedSyslogMessage, { format: 'malformed' }> {
  const message = parseSyslog(text, { receivedAt });
  assert.equal(message.format, 'malformed', JSON.stringify(message));
  return message as Extract<ParsedSyslogMessage, { format: 'malformed' }>;
}

test('reads the RFC 5424 example with a BOM, NILVALUE PROCID and no structured data', () => {
  assert.deepEqual(
    parsed(
      "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \uFEFF'su root' failed for lonvick on /dev/pts/8",
    ),
    {
      format: '5424',
      facility: 4,
      severity: 2,
      timestamp: Date.parse('2003-10-11T22:14:15.003Z'),
      hostname: 'mymachine.example.com',
      appName: 'su',
      procId: null,
      msgId: 'ID47',
      structuredData: [],
      message: "'su root' failed for lonvick on /dev/pts/8",
    },
  );
});

test('applies a negative UTC offset and truncates microseconds to milliseconds', () => {
  const message = parsed(
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
  );
  assert.equal(message.timestamp, Date.parse('2003-08-24T12:14:15.000Z'));
  assert.equal(message.procId, '8710');
  assert.equal(message.msgId, null);
  assert.equal(message.message, "%% It's time to make the do-nuts.");
});

test('reads several structured data elements in order, with their parameters', () => {
  const message = parsed(
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] \uFEFFAn application event log entry...',
  );
  assert.deepEqual(message.structuredData, [
    {
      id: 'exampleSDID@32473',
      params: [
        { name: 'iut', value: '3' },
        { name: 'eventSource', value: 'Application' },
        { name: 'eventID', value: '1011' },
      ],
    },
    { id: 'examplePriority@32473', params: [{ name: 'class', value: 'high' }] },
  ]);
  assert.equal(message.message, 'An application event log entry...');
});

test('a message that is only structured data has an empty MSG', () => {
  const message = parsed(
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]',
  );
  assert.equal(message.message, '');
  assert.equal(message.structuredData.length, 1);
});

test('unescapes \\" \\\\ and \\] in parameter values and keeps any other backslash as it is', () => {
  const message = parsed(
    String.raw`<13>1 - - - - - [origin@48577 path="C:\\Temp\\a.txt" quote="say \"hi\"" br="[x\]" other="a\nb" ip="192.0.2.1" ip="192.0.2.2"] done`,
  );
  assert.deepEqual(message.structuredData, [
    {
      id: 'origin@48577',
      params: [
        { name: 'path', value: 'C:\\Temp\\a.txt' },
        { name: 'quote', value: 'say "hi"' },
        { name: 'br', value: '[x]' },
        { name: 'other', value: 'a\\nb' },
        { name: 'ip', value: '192.0.2.1' },
        { name: 'ip', value: '192.0.2.2' },
      ],
    },
  ]);
  assert.equal(message.message, 'done');
  assert.equal(message.timestamp, null);
  assert.equal(message.hostname, null);
});

test('reads rsyslog RFC 5424 output with microseconds and a positive offset', () => {
  const message = parsed(
    '<86>1 2025-05-12T12:15:30.123456+02:00 web01 sshd 1234 - - Accepted publickey for deploy from 203.0.113.5 port 50022 ssh2\n',
  );
  assert.equal(message.timestamp, Date.parse('2025-05-12T10:15:30.123Z'));
  assert.equal(message.facility, 10, 'authpriv');
  assert.equal(message.severity, 6);
  assert.equal(message.appName, 'sshd');
  assert.equal(message.procId, '1234');
  assert.equal(message.message, 'Accepted publickey for deploy from 203.0.113.5 port 50022 ssh2');
});

test('reads systemd-netlogd output with timeQuality structured data', () => {
  const message = parsed(
    '<30>1 2025-05-12T10:15:30.412867+00:00 edge-07 systemd 1 - [timeQuality tzKnown="1" isSynced="1" syncAccuracy="143000"] Started Daily apt download activities.',
  );
  assert.deepEqual(message.structuredData, [
    {
      id: 'timeQuality',
      params: [
        { name: 'tzKnown', value: '1' },
        { name: 'isSynced', value: '1' },
        { name: 'syncAccuracy', value: '143000' },
      ],
    },
  ]);
  assert.equal(message.hostname, 'edge-07');
  assert.equal(message.message, 'Started Daily apt download activities.');
});

test('reads the RFC 3164 example: timestamp, hostname, tag and content', () => {
  assert.deepEqual(parsed("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"), {
    format: '3164',
    facility: 4,
    severity: 2,
    timestamp: Date.parse('2024-10-11T22:14:15Z'),
    hostname: 'mymachine',
    appName: 'su',
    procId: null,
    msgId: null,
    structuredData: [],
    message: "'su root' failed for lonvick on /dev/pts/8",
  });
});

test('reads rsyslog traditional forwarding with TAG[pid] and a zero-padded day', () => {
  const message = parsed(
    '<38>May 02 10:15:30 web01 sshd[1234]: Failed password for invalid user admin from 203.0.113.9 port 4242 ssh2',
  );
  assert.equal(message.timestamp, Date.parse('2025-05-02T10:15:30Z'));
  assert.equal(message.hostname, 'web01');
  assert.equal(message.appName, 'sshd');
  assert.equal(message.procId, '1234');
  assert.equal(message.message, 'Failed password for invalid user admin from 203.0.113.9 port 4242 ssh2');
});

test('a BSD line without a hostname (journald to /dev/log, BusyBox) leaves hostname null', () => {
  const systemd = parsed('<30>May 12 10:15:30 systemd[1]: Started Session 4 of user root.');
  assert.equal(systemd.hostname, null);
  assert.equal(systemd.appName, 'systemd');
  assert.equal(systemd.procId, '1');
  assert.equal(systemd.message, 'Started Session 4 of user root.');
  const busybox = parsed('<13>May 12 10:15:30 root: hello from busybox');
  assert.equal(busybox.hostname, null);
  assert.equal(busybox.appName, 'root');
  const upperCaseTag = parsed('<78>May 12 10:15:30 CRON[99]: (root) CMD (run-parts /etc/cron.hourly)');
  assert.equal(upperCaseTag.appName, 'CRON');
  assert.equal(upperCaseTag.procId, '99');
  const upperCaseNoPid = parsed('<78>May 12 10:15:30 CRON: (root) CMD');
  assert.equal(upperCaseNoPid.appName, 'CRON', 'an upper-case tag is not mistaken for a Cisco time zone');
});

test('a BSD line without timestamp keeps the tag and takes no hostname', () => {
  const message = parsed('<30>systemd[1]: Started Session 4 of user root.');
  assert.equal(message.timestamp, null);
  assert.equal(message.hostname, null);
  assert.equal(message.appName, 'systemd');
  assert.equal(message.message, 'Started Session 4 of user root.');
});

test('a BSD line without a tag keeps the whole text as the message', () => {
  const message = parsed('<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!');
  assert.equal(message.hostname, '10.0.0.99');
  assert.equal(message.appName, null);
  assert.equal(message.message, 'Use the BFG!');
});

test('reads kernel lines forwarded by rsyslog', () => {
  const message = parsed(
    '<4>May 12 10:15:30 edge-07 kernel: [12345.678901] usb 1-1: new high-speed USB device number 5',
  );
  assert.equal(message.facility, 0);
  assert.equal(message.severity, 4);
  assert.equal(message.appName, 'kernel');
  assert.equal(message.message, '[12345.678901] usb 1-1: new high-speed USB device number 5');
});

test('reads Cisco IOS lines with sequence number, unsynchronised-clock mark, milliseconds and zone', () => {
  const ios = parsed(
    '<189>52: *Mar  1 00:01:02.345 UTC: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.1)',
  );
  assert.equal(ios.facility, 23);
  assert.equal(ios.severity, 5);
  assert.equal(ios.timestamp, Date.parse('2025-03-01T00:01:02.345Z'));
  assert.equal(ios.hostname, null);
  assert.equal(ios.appName, '%SYS-5-CONFIG_I');
  assert.equal(ios.message, 'Configured from console by vty0 (10.0.0.1)');

  const originId = parsed(
    '<187>1234: core-sw1: Mar  1 2024 00:01:02: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down',
  );
  assert.equal(originId.hostname, 'core-sw1');
  assert.equal(originId.timestamp, Date.parse('2024-03-01T00:01:02Z'), 'the year the device wrote wins');
  assert.equal(originId.appName, '%LINK-3-UPDOWN');
  assert.equal(originId.message, 'Interface GigabitEthernet0/1, changed state to down');
});

test('reads Cisco ASA lines with and without timestamp and hostname', () => {
  const full = parsed(
    '<166>May 12 10:15:30 asa-edge %ASA-6-302013: Built outbound TCP connection 1234 for outside:203.0.113.7/443',
  );
  assert.equal(full.hostname, 'asa-edge');
  assert.equal(full.appName, '%ASA-6-302013');
  assert.equal(full.message, 'Built outbound TCP connection 1234 for outside:203.0.113.7/443');
  const bare = parsed('<166>%ASA-4-106023: Deny tcp src outside:198.51.100.4/5060 dst inside:10.0.0.5/5060');
  assert.equal(bare.timestamp, null);
  assert.equal(bare.appName, '%ASA-4-106023');
});

test('reads the RFC 3339 timestamp rsyslog forwards in place of the BSD one', () => {
  const message = parsed('<13>2025-05-12T12:00:00.123+02:00 host sshd[77]: Accepted publickey for root');
  assert.equal(message.format, '3164');
  assert.equal(message.timestamp, Date.parse('2025-05-12T10:00:00.123Z'));
  assert.equal(message.hostname, 'host');
  assert.equal(message.appName, 'sshd');
});

test('gives a year-less BSD timestamp the latest year that is not a month after its arrival', () => {
  const newYear = Date.parse('2025-01-01T00:00:02Z');
  assert.equal(parsed('<13>Dec 31 23:59:59 h a: x', newYear).timestamp, Date.parse('2024-12-31T23:59:59Z'));
  const newYearsEve = Date.parse('2024-12-31T23:59:58Z');
  assert.equal(
    parsed('<13>Jan  1 00:00:03 h a: x', newYearsEve).timestamp,
    Date.parse('2025-01-01T00:00:03Z'),
    'a sender slightly ahead across New Year',
  );
  assert.equal(
    parsed('<13>Aug  1 00:00:00 h a: x', Date.parse('2025-05-12T00:00:00Z')).timestamp,
    Date.parse('2024-08-01T00:00:00Z'),
    'three months ahead is last year',
  );
  assert.equal(
    parsed('<13>Feb 29 12:00:00 h a: x', Date.parse('2027-03-01T00:00:00Z')).timestamp,
    Date.parse('2024-02-29T12:00:00Z'),
    'Feb 29 goes back to the last leap year',
  );
});

test('reads BSD timestamps in a configured zone', () => {
  const message = parseSyslog('<13>May 12 12:15:30 h a: x', { receivedAt, bsdUtcOffsetMinutes: 120 });
  assert.equal(message.format === 'malformed' ? null : message.timestamp, Date.parse('2025-05-12T10:15:30Z'));
});

test('strips a trailing LF, CRLF or NUL and decodes bytes as UTF-8', () => {
  const bytes = new TextEncoder().encode('<13>1 - host app - - - \uFEFFgrüße\r\n\0');
  assert.equal(parsed(bytes).message, 'grüße');
  assert.equal(parsed('<13>May 12 10:15:30 h a: x\n\n').message, 'x');
});

test('keeps a malformed input whole with the reason and the PRI when it was readable', () => {
  assert.match(malformed('').reason, /empty/);
  assert.match(malformed('hello world').reason, /missing PRI/);
  assert.match(malformed('<x>hello').reason, /invalid PRI/);
  assert.match(malformed('<192>hello').reason, /highest is <191>/);
  assert.match(malformed('<13>').reason, /nothing after the PRI/);
  const badDate = malformed('<13>1 2025-02-30T00:00:00Z host app - - - text');
  assert.match(badDate.reason, /invalid TIMESTAMP "2025-02-30T00:00:00Z"/);
  assert.equal(badDate.facility, 1);
  assert.equal(badDate.severity, 5);
  assert.equal(badDate.raw, '<13>1 2025-02-30T00:00:00Z host app - - - text');
  assert.match(malformed('<13>1 - host app - - x').reason, /STRUCTURED-DATA must be -/);
  assert.match(malformed('<13>1 - host app').reason, /header cut short: no space after APP-NAME/);
  assert.match(malformed('<13>1 -  app - - - x').reason, /empty HOSTNAME/);
  assert.match(malformed('<13>1 - h a - - [id k="v"').reason, /not closed/);
  assert.match(malformed('<13>1 - h a - - [id k="v] x').reason, /no closing quote/);
  assert.match(malformed('<13>1 - h a - - [id k=v] x').reason, /name="value"/);
  assert.match(malformed('<13>1 - h a - - [] x').reason, /no SD-ID/);
  assert.match(malformed('<13>1 - h a - - [a]x').reason, /space between STRUCTURED-DATA and MSG/);
  assert.match(malformed('<13>1 2025-05-12T10:00:00+25:00 h a - - -').reason, /invalid TIMESTAMP/);
});

test('keeps invalid UTF-8 of a malformed input as replacement characters', () => {
  const message = malformed(new Uint8Array([0xff, 0xfe, 0x41]));
  assert.equal(message.raw, '\uFFFD\uFFFDA');
});
