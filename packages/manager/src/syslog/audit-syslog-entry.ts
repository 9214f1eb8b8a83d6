import type { OperatorActionRecord } from '@edgeward/core';
import { SYSLOG_SD_ENTERPRISE, type SyslogOutEntry } from './syslog-forwarder.ts';

/** Receivers commonly cap a whole message at 8 KiB (rsyslog's default), so the details are cut well below. */
const DETAILS_MAX_CHARS = 2048;

const phrases: Record<string, string> = {
  'token.create': 'created enrollment token',
  'token.revoke': 'revoked enrollment token',
  'operator.create': 'created operator',
  'operator.revoke': 'revoked operator',
  'device.revoke': 'revoked device',
};

/**
 * A recorded action as the SIEM receives it: MSGID `audit`, structured data `[audit@32473 id operator
 * operatorId action target details]` (the action id lets a SIEM drop the duplicates a reconnect may
 * cause), and a sentence.
 */
export function auditSyslogEntry(action: OperatorActionRecord): SyslogOutEntry {
  const params = [
    { name: 'id', value: action.id },
    { name: 'operator', value: action.operatorName },
    { name: 'operatorId', value: action.operatorId },
    { name: 'action', value: action.action },
    { name: 'target', value: action.target },
  ];
  const details = JSON.stringify(action.details);
  if (details !== '{}') {
    params.push({
      name: 'details',
      value: details.length > DETAILS_MAX_CHARS ? `${details.slice(0, DETAILS_MAX_CHARS)}…` : details,
    });
  }
  return {
    at: action.at,
    msgId: 'audit',
    structuredData: [{ id: `audit@${SYSLOG_SD_ENTERPRISE}`, params }],
    message: auditSentence(action),
  };
}

/** `operator Ada created enrollment token et-1f…`, `device dev-7 enrolled`. */
export function auditSentence(action: OperatorActionRecord): string {
  // Enrollment and renewal are recorded with the device as the actor (EnrollmentService).
  if (action.operatorId === 'device') {
    if (action.action === 'device.enroll') return `device ${action.target} enrolled`;
    if (action.action === 'device.renew') return `device ${action.target} renewed its certificate`;
  }
  const who = action.operatorId === 'system' ? 'the manager' : `operator ${action.operatorName}`;
  const phrase = phrases[action.action];
  const sentence =
    phrase === undefined
      ? `${who} performed ${action.action} on ${action.target}`
      : `${who} ${phrase} ${action.target}`;
  const reason = action.details.reason;
  return typeof reason === 'string' && reason !== '' ? `${sentence} (reason: ${reason})` : sentence;
}
