import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compilePolicy } from '../policy/compile-policy.ts';
import { formatPolicyPlan, planPolicy } from '../policy/policy-plan.ts';
import { canMoveIncident, incidentStates } from './incident.ts';

const malware = [
  'title: Malware on a device',
  'types: [malware, ransomware]',
  'steps:',
  '  - id: capture',
  '    title: Capture volatile data before anything else',
  '    phase: open',
  '  - id: isolate',
  '    title: Isolate the device, keeping the PLC link',
  '    phase: contained',
  '  - id: reimage',
  '    title: Reimage from the golden image',
].join('\n');

describe('playbooks in the policy folder', () => {
  test('compile into the policy with their id from the file name and their steps in order', () => {
    const result = compilePolicy([{ path: 'playbooks/malware.yaml', text: malware }]);
    assert.equal(result.ok, true, JSON.stringify(result));
    if (!result.ok) return;
    assert.deepEqual(result.policy.playbooks, [
      {
        id: 'malware',
        title: 'Malware on a device',
        types: ['malware', 'ransomware'],
        steps: [
          { id: 'capture', title: 'Capture volatile data before anything else', phase: 'open' },
          { id: 'isolate', title: 'Isolate the device, keeping the PLC link', phase: 'contained' },
          { id: 'reimage', title: 'Reimage from the golden image', phase: null },
        ],
        file: 'playbooks/malware.yaml',
      },
    ]);
  });

  test('a plan lists playbooks added and changed', () => {
    const before = compilePolicy([]);
    const after = compilePolicy([{ path: 'playbooks/malware.yaml', text: malware }]);
    const edited = compilePolicy([
      { path: 'playbooks/malware.yaml', text: malware.replace('Reimage from', 'Reflash from') },
    ]);
    assert.ok(before.ok && after.ok && edited.ok);
    const added = planPolicy({ current: before.policy, next: after.policy, devices: [] });
    assert.deepEqual(
      added.playbooks.map((entry) => [entry.id, entry.change]),
      [['malware', 'added']],
    );
    assert.equal(added.summary.add, 1);
    const changed = planPolicy({ current: after.policy, next: edited.policy, devices: [] });
    assert.deepEqual(
      changed.playbooks.map((entry) => entry.fields.map((field) => field.field)),
      [['steps']],
    );
    assert.match(formatPolicyPlan(changed), /Incident playbooks:\n {2}~ malware/);
  });

  test('a policy without playbooks compiles exactly as before (no playbooks field)', () => {
    const result = compilePolicy([]);
    assert.equal(result.ok && 'playbooks' in result.policy, false);
  });

  test('report located problems: an unknown phase, a duplicate step, a type two playbooks answer', () => {
    const badPhase = compilePolicy([
      { path: 'playbooks/malware.yaml', text: malware.replace('phase: contained', 'phase: quarantined') },
    ]);
    assert.deepEqual(
      badPhase.ok
        ? []
        : badPhase.problems.map((problem) => `${problem.file}:${problem.line} ${problem.field}`),
      ['playbooks/malware.yaml:9 steps.1.phase'],
    );
    const broken = malware.replace('id: reimage', 'id: capture');
    const other = ['title: Other', 'types: [ransomware]', 'steps:', '  - id: one', '    title: One'].join(
      '\n',
    );
    const result = compilePolicy([
      { path: 'playbooks/malware.yaml', text: broken },
      { path: 'playbooks/other.yaml', text: other },
    ]);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const problems = result.problems.map(
      (problem) => `${problem.file}:${problem.line} ${problem.field ?? ''}`,
    );
    assert.ok(problems.includes('playbooks/malware.yaml:10 steps.2.id'), problems.join('\n'));
    const seen = result.problems.map((problem) => problem.message).join('\n');
    assert.match(seen, /duplicate step id `capture`/);
    assert.match(seen, /duplicate playbook type id `ransomware`/);
    const missingTitle = compilePolicy([{ path: 'playbooks/x.yaml', text: 'steps: []' }]);
    assert.equal(missingTitle.ok, false);
  });
});

describe('incident states', () => {
  test('move only forward, and nothing leaves closed', () => {
    fc.assert(
      fc.property(fc.constantFrom(...incidentStates), fc.constantFrom(...incidentStates), (from, to) => {
        const forward = incidentStates.indexOf(to) > incidentStates.indexOf(from);
        assert.equal(canMoveIncident(from, to), forward);
        if (from === 'closed') assert.equal(canMoveIncident(from, to), false);
      }),
    );
  });
});
