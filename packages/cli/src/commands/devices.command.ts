import {
  type ChangeView,
  type DeviceCommandView,
  type DeviceDetailWithIsolationView,
  type IsolationAllow,
  parseDuration,
} from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, labelsText, table, UsageError, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerDeviceCommands(program: Command, io: CliIo): void {
  const devices = program
    .command('devices')
    .description('the device registry: list, inspect, history, revoke, isolate, release, capture');

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

  withApiOptions(devices.command('isolate'))
    .description(
      'cut a device off the network except the manager and the peers you allow (pushed at once when it is connected)',
    )
    .argument('<id>', 'device id')
    .requiredOption('--reason <text>', 'why, recorded with the action and shown on the device')
    .option(
      '--allow <name=addr[:port][/tcp|udp]>',
      'a peer the device may still reach, e.g. siem=10.0.0.5:514/udp (repeatable)',
      collect,
    )
    .option('--allow-dns', 'keep DNS to the configured resolvers open')
    .option('--release-after <duration>', 'the device lifts the isolation by itself after this long, e.g. 2h')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward devices isolate dev-1234abcd5678ef90 --reason 'beaconing to a known C2' --allow siem=10.0.0.5:514/udp --release-after 2h",
    )
    .action(
      async (
        id: string,
        flags: ApiFlags & {
          reason: string;
          allow?: string[];
          allowDns?: boolean;
          releaseAfter?: string;
          json?: boolean;
        },
      ) => {
        const command = await operatorApiFrom(flags, io).isolateDevice(id, {
          reason: flags.reason,
          allow: (flags.allow ?? []).map(parseAllowFlag),
          allowDns: flags.allowDns === true,
          ...(flags.releaseAfter === undefined
            ? {}
            : { releaseAfterMs: parseDuration(flags.releaseAfter, '--release-after') }),
        });
        io.out(flags.json ? json(command) : describeIssued(command));
      },
    );

  withApiOptions(devices.command('release'))
    .description("lift a device's isolation")
    .argument('<id>', 'device id')
    .requiredOption('--reason <text>', 'why, recorded with the action')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward devices release dev-1234abcd5678ef90 --reason 'reimaged, clean'",
    )
    .action(async (id: string, flags: ApiFlags & { reason: string; json?: boolean }) => {
      const command = await operatorApiFrom(flags, io).releaseDevice(id, { reason: flags.reason });
      io.out(flags.json ? json(command) : describeIssued(command));
    });

  withApiOptions(devices.command('capture'))
    .description(
      'collect forensic evidence on a device: volatile data first, then files, signed and uploaded (pushed at once when it is connected)',
    )
    .argument('<id>', 'device id')
    .option('--reason <text>', 'why, recorded with the action and in the manifest', 'operator capture')
    .option('--files <path...>', 'files to take besides the configured ones (paths on the device)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nFollow it with `edgeward evidence list --device ID`.\n\nExample:\n  $ edgeward devices capture dev-1234abcd5678ef90 --reason 'beaconing' --files /etc/rc.local /tmp/dropper.sh",
    )
    .action(async (id: string, flags: ApiFlags & { reason: string; files?: string[]; json?: boolean }) => {
      const command = await operatorApiFrom(flags, io).captureDevice(id, {
        reason: flags.reason,
        files: flags.files ?? [],
      });
      io.out(flags.json ? json(command) : describeIssued(command));
    });

  withApiOptions(devices.command('commands'))
    .description('the commands sent to a device, newest first, with their status and result')
    .argument('<id>', 'device id')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward devices commands dev-1234abcd5678ef90')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const { commands } = await operatorApiFrom(flags, io).deviceCommands(id);
      if (flags.json) {
        io.out(json(commands));
        return;
      }
      if (commands.length === 0) {
        io.out('no commands sent to this device');
        return;
      }
      io.out(
        table(
          ['ID', 'KIND', 'STATUS', 'BY', 'CREATED', 'RESULT'],
          commands.map((command) => [
            command.id,
            command.kind,
            command.status,
            command.createdBy,
            when(command.createdAt),
            command.result === null ? '-' : `${command.result.status}: ${command.result.detail}`,
          ]),
        ),
      );
    });
}

/** NAME=ADDR[:PORT][/tcp|udp]; an IPv6 address with a port is written in brackets: name=[2001:db8::1]:443. */
export function parseAllowFlag(value: string): IsolationAllow {
  const usage = `--allow ${value} must look like NAME=ADDR[:PORT][/tcp|udp], e.g. --allow siem=10.0.0.5:514/udp`;
  const separator = value.indexOf('=');
  if (separator <= 0) throw new UsageError(usage);
  const name = value.slice(0, separator);
  let rest = value.slice(separator + 1);
  let protocol: IsolationAllow['protocol'] = 'any';
  const suffix = /\/(tcp|udp)$/i.exec(rest);
  if (suffix !== null) {
    protocol = suffix[1]?.toLowerCase() === 'udp' ? 'udp' : 'tcp';
    rest = rest.slice(0, suffix.index);
  }
  let address = rest;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed !== null) {
    address = bracketed[1] ?? '';
    port = bracketed[2];
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    [address = '', port] = rest.split(':');
  }
  if (address === '') throw new UsageError(usage);
  const allow: IsolationAllow = { name, address, protocol, direction: 'out' };
  if (port === undefined) return allow;
  const number = Number(port);
  if (!/^\d+$/.test(port) || number < 1 || number > 65_535) {
    throw new UsageError(`${usage}; the port ${port} is not between 1 and 65535`);
  }
  return { ...allow, port: number };
}

function describeIssued(command: DeviceCommandView): string {
  const delivery =
    command.status === 'sent'
      ? 'sent over its push connection'
      : 'queued; the device gets it at its next contact';
  return `${command.kind} ${command.deviceId}: command ${command.id} ${delivery}\nfollow it with: edgeward devices commands ${command.deviceId}`;
}

function describeIsolation(isolation: DeviceDetailWithIsolationView['isolation']): string {
  if (isolation.desired === null) return 'not isolated';
  const reported =
    isolation.reported === null
      ? 'device has not reported yet'
      : `device reports ${isolation.reported.isolated ? 'isolated' : 'not isolated'} ${when(isolation.reportedAt)}`;
  return `${isolation.desired} by ${isolation.desiredBy} ${when(isolation.desiredAt)} (${isolation.reason}); ${reported}`;
}

function describeDevice(device: DeviceDetailWithIsolationView): string {
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
    `isolation:     ${describeIsolation(device.isolation)}`,
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
