import type { ChangeView, DeviceDetailView } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, labelsText, table, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerDeviceCommands(program: Command, io: CliIo): void {
  const devices = program
    .command('devices')
    .description('the device registry: list, inspect, history, revoke');

  withApiOptions(devices.command('list'))
    .description('list devices with their labels, status and last contact')
    .option('--label <key=value>', 'only devices with this label (repeatable, all must match)', collect)
    .option('--status <status>', 'online or offline')
    .option('--search <text>', 'id or name contains this text')
    .option('--limit <n>', 'at most this many (default 100)', '100')
    .option('--after <id>', 'continue after this device id (paging)')
    .option('--all', 'include revoked devices')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ edgeward devices list\n  $ edgeward devices list --label site=plant-a --status offline',
    )
    .action(
      async (
        flags: ApiFlags & {
          label?: string[];
          status?: string;
          search?: string;
          limit: string;
          after?: string;
          all?: boolean;
          json?: boolean;
        },
      ) => {
        const query = new URLSearchParams({ limit: flags.limit });
        for (const label of flags.label ?? []) query.append('label', label);
        if (flags.status !== undefined) query.set('status', flags.status);
        if (flags.search !== undefined) query.set('search', flags.search);
        if (flags.after !== undefined) query.set('after', flags.after);
        if (flags.all) query.set('includeRevoked', 'true');
        const page = await operatorApiFrom(flags, io).listDevices(query);
        if (flags.json) {
          io.out(json(page));
          return;
        }
        io.out(
          table(
            ['ID', 'NAME', 'STATUS', 'LABELS', 'LAST CONTACT', 'INVENTORY'],
            page.devices.map((device) => [
              device.id,
              device.name,
              device.status,
              labelsText(device.labels),
              when(device.lastSeenAt),
              `v${device.inventoryVersion}`,
            ]),
          ),
        );
        const more = page.nextAfter === null ? '' : ` — next page: --after ${page.nextAfter}`;
        io.err(`${page.devices.length} of ${page.total} devices${more}`);
      },
    );

  withApiOptions(devices.command('show'))
    .description('show a device: identity, labels, status, certificates and its latest inventory')
    .argument('<id>', 'device id')
    .option('--json', 'print as JSON (the whole inventory)')
    .addHelpText('after', '\nExample:\n  $ edgeward devices show dev-1234abcd5678ef90 --json')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const device = await operatorApiFrom(flags, io).showDevice(id);
      io.out(flags.json ? json(device) : describeDevice(device));
    });

  withApiOptions(devices.command('history'))
    .description('what changed between inventories, newest first (drift marked with !)')
    .argument('<id>', 'device id')
    .option('--limit <n>', 'at most this many changes (default 200)', '200')
    .option('--section <name>', 'only this inventory section, e.g. packages or listeners')
    .addHelpText(
      'after',
      '\nExamples:\n  $ edgeward devices history dev-1234abcd5678ef90\n  $ edgeward devices history dev-1234abcd5678ef90 --section listeners --limit 20',
    )
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: ApiFlags & { limit: string; section?: string; json?: boolean }) => {
      const query = new URLSearchParams({ limit: flags.limit });
      if (flags.section !== undefined) query.set('section', flags.section);
      const { changes } = await operatorApiFrom(flags, io).deviceHistory(id, query);
      if (flags.json) {
        io.out(json(changes));
        return;
      }
      if (changes.length === 0) {
        io.out('no changes since the first inventory');
        return;
      }
      io.out(
        table(
          ['', 'VERSION', 'RECEIVED', 'SECTION', 'CHANGE', 'KEY', 'BEFORE → AFTER'],
          changes.map((change) => [
            change.drift ? '!' : '',
            `v${change.version}`,
            new Date(change.receivedAt).toISOString().replace('T', ' ').slice(0, 19),
            change.section,
            change.kind,
            change.key,
            beforeAfter(change),
          ]),
        ),
      );
    });

  withApiOptions(devices.command('revoke'))
    .description('revoke a device: its certificates go on the CRL and its connections are dropped')
    .argument('<id>', 'device id')
    .option('--reason <text>', 'why, recorded with the action', '')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward devices revoke dev-1234abcd5678ef90 --reason 'device stolen'",
    )
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: ApiFlags & { reason: string; json?: boolean }) => {
      const device = await operatorApiFrom(flags, io).revokeDevice(id, flags.reason);
      io.out(flags.json ? json(device) : `revoked ${device.id} (${device.name})`);
    });
}

function describeDevice(device: DeviceDetailView): string {
  const inventory = device.inventory as {
    os?: { prettyName?: string };
    kernel?: { release?: string };
    architecture?: string;
    firmware?: { vendor?: string; version?: string };
    packages?: unknown[];
    listeners?: { protocol: string; address: string; port: number; process?: { name: string } }[];
    users?: { name: string; uid: number }[];
    kernelModules?: unknown[];
    interfaces?: { name: string; addresses: string[] }[];
  } | null;
  const lines = [
    `id:            ${device.id}`,
    `name:          ${device.name}`,
    `identity:      ${device.spiffeId}`,
    `status:        ${device.status}`,
    `labels:        ${labelsText(device.labels)}`,
    `enrolled:      ${when(device.enrolledAt)}`,
    `last contact:  ${when(device.lastSeenAt)}`,
    `agent:         ${device.agentVersion}`,
    `certificates:  ${device.certificates.map((cert) => `${cert.serial.slice(0, 16)}… until ${new Date(cert.notAfter).toISOString().slice(0, 10)}${cert.revokedAt === null ? '' : ' (revoked)'}`).join(', ') || '-'}`,
  ];
  if (inventory === null) return [...lines, 'inventory:     none yet'].join('\n');
  const uidZero = (inventory.users ?? []).filter((user) => user.uid === 0).map((user) => user.name);
  lines.push(
    `inventory:     version ${device.inventoryVersion}, collected ${when(device.inventoryCollectedAt)}`,
    `  os:          ${inventory.os?.prettyName ?? '-'} (kernel ${inventory.kernel?.release ?? '-'}, ${inventory.architecture ?? '-'})`,
    `  firmware:    ${[inventory.firmware?.vendor, inventory.firmware?.version].filter(Boolean).join(' ') || '-'}`,
    `  interfaces:  ${(inventory.interfaces ?? []).map((nic) => `${nic.name} ${nic.addresses.join(' ')}`.trim()).join('; ') || '-'}`,
    `  listening:   ${(inventory.listeners ?? []).map((l) => `${l.protocol}/${l.address}:${l.port}${l.process ? ` (${l.process.name})` : ''}`).join(', ') || '-'}`,
    `  packages:    ${(inventory.packages ?? []).length}`,
    `  users:       ${(inventory.users ?? []).length} (UID 0: ${uidZero.join(', ') || '-'})`,
    `  modules:     ${(inventory.kernelModules ?? []).length}`,
  );
  return lines.join('\n');
}

function beforeAfter(change: ChangeView): string {
  const brief = (value: unknown) => {
    if (value === null || value === undefined) return '-';
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
  };
  if (change.kind === 'added') return brief(change.after);
  if (change.kind === 'removed') return brief(change.before);
  return `${brief(change.before)} → ${brief(change.after)}`;
}
