import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ALERT_EVENT_REFS_MAX, alertSignalFromEvent } from './alert-signal.ts';

const data = {
  ruleId: 'ssh-brute-force',
  ruleTitle: 'SSH brute force',
  kind: 'correlation',
  groupKey: '["root"]',
  groupFields: { user: 'root' },
  severity: 'high',
  tier: 'high',
  firstSeen: 1_000,
  lastSeen: 5_000,
  count: 5,
  eventRefs: [
    { deviceId: 'dev-1', seq: 7, id: 'e-7' },
    { deviceId: 'dev-2', seq: 9, id: 'e-9' },
  ],
  deviceIds: ['dev-1', 'dev-2'],
  response: ['isolate'],
  route: ['pager'],
  update: false,
};

test('an alert.raised event carries a signal of its device only, with the source agent', () => {
  assert.deepEqual(alertSignalFromEvent('dev-1', { type: 'alert.raised', data }), {
    ...data,
    eventRefs: [{ deviceId: 'dev-1', seq: 7, id: 'e-7' }],
    deviceIds: ['dev-1'],
    source: 'agent',
  });
});

test('other event types and malformed signals carry none', () => {
  assert.equal(alertSignalFromEvent('dev-1', { type: 'auth.login_failed', data }), undefined);
  for (const broken of [
    { ...data, ruleId: '' },
    { ...data, severity: 'severe' },
    { ...data, kind: 'guess' },
    { ...data, count: 0 },
    { ...data, lastSeen: 500 },
    { ...data, update: 'yes' },
    { ...data, groupFields: { user: 7 } },
    {
      ...data,
      eventRefs: Array.from({ length: ALERT_EVENT_REFS_MAX + 1 }, (_, seq) => ({
        deviceId: 'dev-1',
        seq,
        id: 'x',
      })),
    },
    Object.fromEntries(Object.entries(data).filter(([key]) => key !== 'route')),
  ]) {
    assert.equal(
      alertSignalFromEvent('dev-1', { type: 'alert.raised', data: broken }),
      undefined,
      JSON.stringify(broken),
    );
  }
});

test('whatever an event holds, a signal read from it names the sending device alone', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...Object.keys(data)), fc.anything()), (overrides) => {
      const signal = alertSignalFromEvent('dev-1', { type: 'alert.raised', data: { ...data, ...overrides } });
      if (signal === undefined) return;
      assert.deepEqual(signal.deviceIds, ['dev-1']);
      assert.ok(signal.eventRefs.every((ref) => ref.deviceId === 'dev-1'));
      assert.ok(signal.lastSeen >= signal.firstSeen);
    }),
  );
});
