import type { AlertNotification, AlertView, Severity } from '@edgeward/core';
import { SYSLOG_SD_ENTERPRISE, type SyslogOutEntry } from '../syslog/syslog-forwarder.ts';

/** How alerts read for people (mail) and for a SIEM (syslog); webhooks and MQTT carry the JSON itself. */

/** Syslog severity per tier: critical is crit (2), high err (3), medium warning (4), low notice (5), info (6). */
const syslogSeverity: Record<Severity, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** RFC 5424 facility 14, "log alert". */
const LOG_ALERT_FACILITY = 14;
/** Alerts named in one digest message to a SIEM; the rest are counted. */
const SYSLOG_DIGEST_IDS = 50;

function groupText(alert: AlertView): string {
  const fields = Object.entries(alert.groupFields).map(([key, value]) => `${key}=${value}`);
  return fields.join(' ');
}

/** `[Edgeward fleet] HIGH: Many failed logins (user=root) on gw-7: created`, `[Edgeward fleet] digest: 4 medium alerts`. */
export function notificationSubject(notification: AlertNotification): string {
  if (notification.kind === 'digest') {
    const tiers = notification.schedule === 'medium' ? 'medium' : 'low and info';
    return `[Edgeward ${notification.fleet}] digest: ${notification.total} ${tiers} alert${notification.total === 1 ? '' : 's'}`;
  }
  const { alert } = notification;
  const group = groupText(alert);
  const devices =
    alert.deviceIds.length === 1
      ? ` on ${alert.deviceIds[0]}`
      : alert.deviceIds.length > 1
        ? ` on ${alert.deviceIds.length} devices`
        : '';
  // Plain ASCII punctuation, so that mail clients show the subject unencoded.
  return `[Edgeward ${notification.fleet}] ${alert.tier.toUpperCase()}: ${alert.ruleTitle}${group === '' ? '' : ` (${group})`}${devices}: ${notification.reason}`;
}

function alertLines(alert: AlertView): string[] {
  return [
    `${alert.ruleTitle} [${alert.ruleId}]`,
    `  alert:     ${alert.id} (${alert.state}, severity ${alert.severity}, tier ${alert.tier})`,
    `  group:     ${groupText(alert) || '-'}`,
    `  devices:   ${alert.deviceIds.join(', ') || '-'}`,
    `  events:    ${alert.count}, from ${new Date(alert.firstSeen).toISOString()} to ${new Date(alert.lastSeen).toISOString()}`,
    ...(alert.response.length === 0 ? [] : [`  response:  ${alert.response.join(', ')}`]),
  ];
}

/** The plain-text body of a mail. */
export function notificationText(notification: AlertNotification): string {
  if (notification.kind === 'digest') {
    const lines = [
      `${notification.total} alert${notification.total === 1 ? '' : 's'} raised or reopened between ${new Date(notification.from).toISOString()} and ${new Date(notification.to).toISOString()}:`,
      '',
    ];
    for (const alert of notification.alerts) lines.push(...alertLines(alert), '');
    if (notification.total > notification.alerts.length) {
      lines.push(`… and ${notification.total - notification.alerts.length} more: edgeward alerts list`);
    }
    return lines.join('\n');
  }
  return [
    `Alert ${notification.reason}:`,
    '',
    ...alertLines(notification.alert),
    '',
    `Acknowledge: edgeward alerts ack ${notification.alert.id}`,
  ].join('\n');
}

/**
 * A notification as the SIEM receives it: MSGID `alert`, structured data `[alert@32473 id rule tier
 * severity state count reason devices]` (a digest: `[alertDigest@32473 schedule total ids]`), and a sentence.
 */
export function alertSyslogEntry(notification: AlertNotification, at: number): SyslogOutEntry {
  if (notification.kind === 'digest') {
    const ids = notification.alerts.slice(0, SYSLOG_DIGEST_IDS).map((alert) => alert.id);
    return {
      at,
      facility: LOG_ALERT_FACILITY,
      severity: notification.schedule === 'medium' ? syslogSeverity.medium : syslogSeverity.low,
      msgId: 'alert-digest',
      structuredData: [
        {
          id: `alertDigest@${SYSLOG_SD_ENTERPRISE}`,
          params: [
            { name: 'schedule', value: notification.schedule },
            { name: 'from', value: new Date(notification.from).toISOString() },
            { name: 'to', value: new Date(notification.to).toISOString() },
            { name: 'total', value: String(notification.total) },
            { name: 'ids', value: ids.join(',') },
          ],
        },
      ],
      message: notificationSubject(notification),
    };
  }
  const { alert } = notification;
  return {
    at,
    facility: LOG_ALERT_FACILITY,
    severity: syslogSeverity[alert.tier],
    msgId: 'alert',
    structuredData: [
      {
        id: `alert@${SYSLOG_SD_ENTERPRISE}`,
        params: [
          { name: 'id', value: alert.id },
          { name: 'reason', value: notification.reason },
          { name: 'rule', value: alert.ruleId },
          { name: 'tier', value: alert.tier },
          { name: 'severity', value: alert.severity },
          { name: 'state', value: alert.state },
          { name: 'count', value: String(alert.count) },
          { name: 'devices', value: alert.deviceIds.slice(0, 20).join(',') },
        ],
      },
    ],
    message: notificationSubject(notification),
  };
}
