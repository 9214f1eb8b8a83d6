import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureIo } from '../cli-io.fixture.ts';
import { runEdgeward } from '../edgeward-program.ts';

const starterRules = new URL('../../../../policies/starter/rules', import.meta.url).pathname;
const t0 = Date.parse('2026-11-25T10:00:00Z');

function failedLogins(count: number, user: string, everyMs: number): string[] {
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      type: 'auth.login_failed',
      time: t0 + index * everyMs,
      data: { user, sourceAddress: '203.0.113.9', program: 'sshd', method: 'password' },
    }),
  );
}

test('rules test prints the alerts that events raise in event time, one per group', async () => {
  // Five failures for root within five minutes raise the brute-force alert; four for bob do not,
  // and neither do five spread over an hour (given in Sigma field names).
  const spread = Array.from({ length: 5 }, (_, index) =>
    JSON.stringify({
      User: 'carol',
      SourceIp: '198.51.100.4',
      '@timestamp': new Date(t0 + index * 900_000).toISOString(),
    }),
  );
  const lines = [...failedLogins(5, 'root', 20_000), ...failedLogins(4, 'bob', 20_000), ...spread];
  const io = captureIo([`${lines.join('\n')}\n`]);
  assert.equal(await runEdgeward(['rules', 'test', starterRules, '--events', '-', '--json'], io), 0);
  const alerts = io.stdout
    .join('')
    .split('\n')
    .filter((line) => line !== '')
    .map(
      (line) => JSON.parse(line) as { ruleId: string; groupFields: Record<string, string>; update: boolean },
    );
  const bruteForce = alerts.filter((alert) => alert.ruleId === 'ew-auth-brute-force-user' && !alert.update);
  assert.deepEqual(
    bruteForce.map((alert) => Object.values(alert.groupFields)),
    [['test-device', 'root']],
  );
});

test('rules test stops at a line that is not an event, naming it', async () => {
  const io = captureIo([`${failedLogins(1, 'root', 0)[0]}\n{"no": "type here"}\n`]);
  assert.equal(await runEdgeward(['rules', 'test', starterRules, '--events', '-'], io), 2);
  assert.match(io.stderr.join(''), /EW_EVENTS_FILE_INVALID: -:2: .*type/);
});
