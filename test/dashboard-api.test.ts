/**
 * What the dashboard needs from the operator API, over real HTTPS: sessions from an operator token, the
 * CSRF rule for cookie writes, sorted keyset pages, the overview figures, the live stream, and the page.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, test } from 'node:test';
import type { DeviceListView, FleetOverviewView, LiveUpdate } from '@edgeward/core';
import { httpsJson } from './support/https-json.ts';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

let hub: TestManager;
const deviceCount = 23;

before(async () => {
  hub = await startTestManager();
  // Devices straight into the store: these tests are about reading them, not enrolling them.
  for (let index = 0; index < deviceCount; index++) {
    await hub.manager.store.devices.create({
      id: `dev-${String(index).padStart(3, '0')}`,
      name: `host-${String((index * 7) % deviceCount).padStart(2, '0')}`,
      labels: { site: index % 2 === 0 ? 'north' : 'south' },
      enrolledAt: 1_000 + index,
      enrollmentTokenId: null,
      lastSeenAt: index % 3 === 0 ? null : Date.now(),
      reportIntervalMs: 60_000,
      agentVersion: '0.1.0',
      inventoryVersion: 0,
      revokedAt: null,
    });
  }
});
after(async () => {
  await hub.close();
});

function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { token?: string; cookie?: string; csrf?: boolean; body?: unknown } = {},
) {
  return httpsJson<T>(new URL(path, hub.operatorUrl), {
    method,
    ca: hub.manager.pki.rootCaPem,
    token: options.token,
    body: options.body,
    headers: {
      ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
      ...(options.csrf === true ? { 'x-edgeward-csrf': '1' } : {}),
    },
  });
}

async function signIn(token: string): Promise<{ cookie: string; setCookie: string }> {
  const reply = await call('POST', '/api/v1/session', { body: { token } });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  const setCookie = reply.headers['set-cookie']?.[0] ?? '';
  return { cookie: setCookie.split(';')[0] ?? '', setCookie };
}

async function createOperator(
  name: string,
  role: 'viewer' | 'operator',
): Promise<{ id: string; token: string }> {
  const created = await call<{ id: string; token: string }>('POST', '/api/v1/operators', {
    token: hub.adminToken,
    body: { name, role },
  });
  assert.equal(created.status, 201);
  return created.body;
}

test('signing in with an operator token sets an httpOnly, Secure, SameSite=Strict cookie that reads the API', async () => {
  const { cookie, setCookie } = await signIn(hub.adminToken);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /Secure/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.match(setCookie, /Path=\//);
  assert.doesNotMatch(cookie, new RegExp(hub.adminToken), 'the cookie must not carry the token itself');
  const whoami = await call<{ name: string; role: string }>('GET', '/api/v1/whoami', { cookie });
  assert.equal(whoami.status, 200);
  assert.deepEqual([whoami.body.name, whoami.body.role], ['admin', 'admin']);
});

test('a write with the session cookie needs the CSRF header; with a bearer token it does not', async () => {
  const { cookie } = await signIn(hub.adminToken);
  const body = { labels: {}, ttlMs: 3_600_000 };
  const refused = await call('POST', '/api/v1/tokens', { cookie, body });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error?.code, 'EW_SESSION_CSRF_MISSING');
  assert.equal((await call('POST', '/api/v1/tokens', { cookie, csrf: true, body })).status, 201);
  assert.equal((await call('POST', '/api/v1/tokens', { token: hub.adminToken, body })).status, 201);
});

test('a viewer signed in by cookie is refused writes by role, like with its token', async () => {
  const viewer = await createOperator('vic', 'viewer');
  const { cookie } = await signIn(viewer.token);
  const refused = await call('POST', '/api/v1/devices/dev-001/isolate', {
    cookie,
    csrf: true,
    body: { reason: 'x' },
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error?.code, 'EW_OPERATOR_ROLE_INSUFFICIENT');
});

test('an unknown token does not sign in, and an altered cookie is refused', async () => {
  const unknown = await call('POST', '/api/v1/session', { body: { token: 'ewo_not-a-token' } });
  assert.equal(unknown.status, 401);
  assert.equal(unknown.body.error?.code, 'EW_OPERATOR_TOKEN_INVALID');
  assert.equal(unknown.headers['set-cookie'], undefined);
  const { cookie } = await signIn(hub.adminToken);
  const [name, value = ''] = cookie.split('=');
  const [payload = '', signature = ''] = value.split('.');
  const forged = Buffer.from(JSON.stringify({ o: 'op-someone-else', e: Date.now() + 60_000 })).toString(
    'base64url',
  );
  for (const altered of [`${name}=${forged}.${signature}`, `${name}=${payload}.${signature.slice(1)}x`]) {
    const reply = await call('GET', '/api/v1/whoami', { cookie: altered });
    assert.equal(reply.status, 401);
    assert.equal(reply.body.error?.code, 'EW_SESSION_INVALID');
  }
});

test('a session ends when it expires, and at once when its operator is revoked', async () => {
  const otto = await createOperator('otto', 'operator');
  const first = await signIn(otto.token);
  assert.equal((await call('GET', '/api/v1/whoami', { cookie: first.cookie })).status, 200);
  hub.clock.offsetMs = 13 * 3_600_000;
  try {
    const expired = await call('GET', '/api/v1/whoami', { cookie: first.cookie });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error?.code, 'EW_SESSION_INVALID');
  } finally {
    hub.clock.offsetMs = 0;
  }
  const second = await signIn(otto.token);
  assert.equal((await call('DELETE', `/api/v1/operators/${otto.id}`, { token: hub.adminToken })).status, 200);
  const revoked = await call('GET', '/api/v1/whoami', { cookie: second.cookie });
  assert.equal(revoked.status, 401);
  assert.equal(revoked.body.error?.code, 'EW_SESSION_INVALID');
});

test('signing out clears the cookie in the browser', async () => {
  const reply = await call('DELETE', '/api/v1/session');
  assert.equal(reply.status, 200);
  const port = new URL(hub.operatorUrl).port;
  assert.match(reply.headers['set-cookie']?.[0] ?? '', new RegExp(`^edgeward_session_${port}=; Max-Age=0`));
});

test('the device list pages by cursor through every device in name order, descending, without repeats', async () => {
  const seen: DeviceListView['devices'] = [];
  let cursor: string | null | undefined;
  for (let pages = 0; pages < 20; pages++) {
    const path = `/api/v1/devices?sort=name&order=desc&limit=5${cursor ? `&cursor=${cursor}` : ''}`;
    const reply = await call<DeviceListView>('GET', path, { token: hub.adminToken });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.total, deviceCount);
    seen.push(...reply.body.devices);
    cursor = reply.body.nextCursor;
    if (cursor === null) break;
  }
  assert.equal(seen.length, deviceCount);
  assert.equal(new Set(seen.map((device) => device.id)).size, deviceCount);
  const names = seen.map((device) => device.name);
  assert.deepEqual(names, [...names].sort().reverse());
});

test('a cursor of another sort is refused with what to pass instead', async () => {
  const byName = await call<DeviceListView>('GET', '/api/v1/devices?sort=name&limit=2', {
    token: hub.adminToken,
  });
  const reply = await call('GET', `/api/v1/devices?sort=lastSeen&cursor=${byName.body.nextCursor}`, {
    token: hub.adminToken,
  });
  assert.equal(reply.status, 400);
  assert.match(reply.body.error?.message ?? '', /nextCursor/);
});

test('the overview counts the fleet by status and site', async () => {
  const reply = await call<FleetOverviewView>('GET', '/api/v1/fleet/overview', { token: hub.adminToken });
  assert.equal(reply.status, 200);
  const neverSeen = Math.ceil(deviceCount / 3);
  assert.deepEqual(reply.body.devices, {
    total: deviceCount,
    online: deviceCount - neverSeen,
    offline: neverSeen,
    revoked: 0,
  });
  assert.deepEqual(reply.body.bySite, [
    { site: 'north', devices: Math.ceil(deviceCount / 2) },
    { site: 'south', devices: Math.floor(deviceCount / 2) },
  ]);
  assert.equal(reply.body.attention.offline, neverSeen);
});

test('the live stream sends the fleet counts at once, then tells of a device command as it is issued', async () => {
  const { cookie } = await signIn(hub.adminToken);
  const updates: LiveUpdate[] = [];
  const stream = request(new URL('/api/v1/stream', hub.operatorUrl), {
    ca: hub.manager.pki.rootCaPem,
    agent: false,
    headers: { cookie, accept: 'text/event-stream' },
  });
  let contentType = '';
  stream.on('response', (response) => {
    contentType = response.headers['content-type'] ?? '';
    let buffer = '';
    response.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((line) => line.startsWith('data: '));
        if (data !== undefined) updates.push(JSON.parse(data.slice('data: '.length)) as LiveUpdate);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    });
  });
  stream.on('error', () => {});
  stream.end();
  try {
    const fleet = await eventually(
      () => updates.find((update) => update.topic === 'fleet'),
      'the fleet counts',
    );
    assert.match(contentType, /^text\/event-stream/);
    assert.equal(fleet.topic === 'fleet' && fleet.total, deviceCount);
    const issued = await call<{ id: string }>('POST', '/api/v1/devices/dev-002/isolate', {
      token: hub.adminToken,
      body: { reason: 'live stream test' },
    });
    assert.equal(issued.status, 201);
    const command = await eventually(
      () => updates.find((update) => update.topic === 'commands' && update.commandId === issued.body.id),
      'the command update',
    );
    assert.equal(command.topic === 'commands' && command.deviceId, 'dev-002');
    await eventually(
      () => updates.find((update) => update.topic === 'devices' && update.deviceIds.includes('dev-002')),
      'the device update',
    );
  } finally {
    stream.destroy();
  }
});

test('the dashboard page is served with a content security policy, its files from /assets/', async () => {
  const page = await fetchText('/');
  assert.equal(page.status, 200, 'run `npm run build:web` (npm ci does) before the tests');
  assert.match(page.headers['content-security-policy'] ?? '', /default-src 'self'/);
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.text)?.[1];
  assert.ok(script, 'the page loads its script from /assets/');
  const asset = await fetchText(script);
  assert.equal(asset.status, 200);
  assert.match(asset.headers['content-type'] ?? '', /javascript/);
  assert.match(asset.headers['cache-control'] ?? '', /immutable/);
  assert.equal((await fetchText('/assets/nothing-here.js')).status, 404);
});

function fetchText(path: string): Promise<{ status: number; text: string; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    request(new URL(path, hub.operatorUrl), { ca: hub.manager.pki.rootCaPem, agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          text,
          headers: response.headers as Record<string, string>,
        }),
      );
    })
      .on('error', reject)
      .end();
  });
}
