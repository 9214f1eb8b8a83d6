import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect as connectTcp } from 'node:net';
import { after, before, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { encodeOctetCounted, formatSyslog5424 } from '@edgeward/core';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

/** Devices without an agent send syslog to the manager; each sender becomes a `legacy` device. */
let hub: TestManager;
let ports: { udp: number; tcp: number; tls: number };

before(async () => {
  hub = await startTestManager({ syslogUdpPort: 0, syslogTcpPort: 0, syslogTlsPort: 0 });
  assert.ok(hub.syslogPorts !== undefined);
  ports = hub.syslogPorts;
});
after(async () => {
  await hub.close();
});

const legacyEvents = async (marker: string) => {
  const page = await hub.manager.services.events.query({ limit: 1000, type: 'syslog.message' });
  return page.events.filter((event) => JSON.stringify(event.data).includes(marker));
};

function message(marker: string, severity = 3): string {
  return formatSyslog5424({
    facility: 4,
    severity,
    timestamp: Date.now(),
    hostname: 'plc-gw-7',
    appName: 'sshd',
    procId: '42',
    msgId: 'AUTH',
    structuredData: [{ id: 'origin@32473', params: [{ name: 'marker', value: marker }] }],
    message: `Failed password for root from 10.0.0.9 port 2222 ssh2 ${marker}`,
  });
}

test('syslog over UDP, TCP with both framings, and TLS becomes events of a legacy device', async () => {
  const udp = createSocket('udp4');
  await new Promise<void>((resolve, reject) =>
    udp.send(Buffer.from(message('udp-1')), ports.udp, '127.0.0.1', (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  udp.close();

  const tcp = connectTcp(ports.tcp, '127.0.0.1');
  await new Promise((resolve) => tcp.once('connect', resolve));
  tcp.end(
    Buffer.concat([encodeOctetCounted(message('tcp-octet-1')), encodeOctetCounted(message('tcp-octet-2'))]),
  );
  const newline = connectTcp(ports.tcp, '127.0.0.1');
  await new Promise((resolve) => newline.once('connect', resolve));
  newline.end(`<13>Nov 25 10:00:00 kiosk-3 login[77]: FAILED LOGIN 1 FROM tty1 FOR bob tcp-newline-1\n`);

  const tls = connectTls({
    port: ports.tls,
    host: '127.0.0.1',
    ca: hub.manager.pki.rootCaPem,
    servername: 'localhost',
  });
  await new Promise((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
  });
  tls.end(encodeOctetCounted(message('tls-1', 2)));

  for (const marker of ['udp-1', 'tcp-octet-1', 'tcp-octet-2', 'tcp-newline-1', 'tls-1']) {
    const [event] = await eventually(async () => {
      const found = await legacyEvents(marker);
      return found.length > 0 ? found : undefined;
    }, `the ${marker} message`);
    assert.ok(event?.deviceId.startsWith('legacy-127-0-0-1'), event?.deviceId);
  }
  assert.equal((await legacyEvents('tls-1'))[0]?.severity, 'critical', 'syslog crit maps to critical');
  assert.equal((await legacyEvents('udp-1'))[0]?.severity, 'high', 'syslog err maps to high');
  const device = await hub.manager.services.devices.show('legacy-127-0-0-1');
  assert.equal(device.labels.legacy, 'true');
  assert.equal(device.status, 'online');
  assert.ok(['plc-gw-7', 'kiosk-3'].includes(device.name));
});

test('garbage on a TCP connection is kept as malformed and does not stall another sender', async () => {
  const garbage = connectTcp(ports.tcp, '127.0.0.1');
  await new Promise((resolve) => garbage.once('connect', resolve));
  garbage.write(Buffer.from([0xff, 0x00, 0x13, 0x37, 0x0a, 0x3c, 0x3e, 0x0a]));
  const good = connectTcp(ports.tcp, '127.0.0.1');
  await new Promise((resolve) => good.once('connect', resolve));
  good.end(encodeOctetCounted(message('after-garbage')));
  await eventually(
    async () => ((await legacyEvents('after-garbage')).length > 0 ? true : undefined),
    'the good message',
  );
  garbage.destroy();
});
