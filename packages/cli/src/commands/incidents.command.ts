import { formatDuration, type IncidentState, type IncidentView, incidentStates } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table, UsageError, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

type JsonFlags = ApiFlags & { json?: boolean };

export function registerIncidentCommands(program: Command, io: CliIo): void {
  const incidents = program
    .command('incidents')
    .description(
      'incidents: open, follow through containment to closing, with playbook checklists and a timeline',
    );

  withApiOptions(incidents.command('open'))
    .description('open an incident on a device, usually from an alert')
    .requiredOption('--device <id>', 'the device concerned')
    .requiredOption('--title <text>', 'what happened, in a line')
    .option('--alert <id>', 'the alert that revealed it (gives the time to detect)')
    .option('--type <type>', 'the incident type; picks the playbook of the policy in force')
    .option('--assignee <name>', 'who handles it')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward incidents open --device dev-1234abcd5678ef90 --alert alr-… --title 'ransom note on the HMI' --type malware",
    )
    .action(
      async (
        flags: JsonFlags & {
          device: string;
          title: string;
          alert?: string;
          type?: string;
          assignee?: string;
        },
      ) => {
        const incident = await operatorApiFrom(flags, io).openIncident({
          deviceId: flags.device,
          title: flags.title,
          ...(flags.alert === undefined ? {} : { alertId: flags.alert }),
          ...(flags.type === undefined ? {} : { type: flags.type }),
          ...(flags.assignee === undefined ? {} : { assignee: flags.assignee }),
        });
        io.out(
          flags.json
            ? json(incident)
            : `opened ${incident.id} on ${incident.deviceId}${incident.playbookId === null ? '' : ` with playbook ${incident.playbookId} (${incident.steps.length} steps)`}`,
        );
      },
    );

  withApiOptions(incidents.command('list'))
    .description('incidents, newest first')
    .option('--state <state>', `only this state: ${incidentStates.join(', ')}`)
    .option('--device <id>', 'only this device')
    .option('--active', 'leave out closed incidents')
    .option('--limit <n>', 'at most this many (default 100)', '100')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ edgeward incidents list --active\n  $ edgeward incidents list --state contained --device dev-1234abcd5678ef90',
    )
    .action(
      async (flags: JsonFlags & { state?: string; device?: string; active?: boolean; limit: string }) => {
        const query = new URLSearchParams({ limit: flags.limit });
        if (flags.state !== undefined) query.set('state', parseState(flags.state));
        if (flags.device !== undefined) query.set('device', flags.device);
        if (flags.active) query.set('active', 'true');
        const { incidents: found } = await operatorApiFrom(flags, io).listIncidents(query);
        if (flags.json) {
          io.out(json(found));
          return;
        }
        if (found.length === 0) {
          io.out('no incidents');
          return;
        }
        io.out(
          table(
            ['ID', 'STATE', 'DEVICE', 'ASSIGNEE', 'OPENED', 'TTD', 'TTC', 'TITLE'],
            found.map((incident) => [
              incident.id,
              incident.state,
              incident.deviceId,
              incident.assignee ?? '-',
              when(incident.openedAt),
              duration(incident.timeToDetectMs),
              duration(incident.timeToContainMs),
              incident.title,
            ]),
          ),
        );
      },
    );

  withApiOptions(incidents.command('show'))
    .description('an incident: state, times, playbook checklist and the timeline')
    .argument('<id>', 'incident id')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward incidents show inc-12d60aaf40e72339')
    .action(async (id: string, flags: JsonFlags) => {
      const incident = await operatorApiFrom(flags, io).showIncident(id);
      if (flags.json) {
        io.out(json(incident));
        return;
      }
      const lines = [
        `id:              ${incident.id}`,
        `title:           ${incident.title}`,
        `state:           ${incident.state}${incident.resolution === null ? '' : ` (${incident.resolution})`}`,
        `device:          ${incident.deviceId}`,
        `alert:           ${incident.alertId ?? '-'}`,
        `assignee:        ${incident.assignee ?? '-'}`,
        `opened:          ${when(incident.openedAt)} by ${incident.openedBy}`,
        `time to detect:  ${duration(incident.timeToDetectMs)}`,
        `time to contain: ${duration(incident.timeToContainMs)}`,
        `playbook:        ${incident.playbookId === null ? '-' : `${incident.playbookId} (${incident.playbookTitle})`}`,
      ];
      for (const step of incident.steps) {
        lines.push(
          `  [${step.doneAt === null ? ' ' : 'x'}] ${step.id}: ${step.title}${step.doneAt === null ? '' : ` — ${step.doneBy} ${when(step.doneAt)}`}`,
        );
      }
      lines.push('', 'timeline:');
      lines.push(
        table(
          ['TIME', 'SOURCE', 'ACTOR', 'WHAT'],
          incident.timeline.map((item) => [
            new Date(item.at).toISOString().replace('T', ' ').slice(0, 19),
            item.source,
            item.actor,
            item.text,
          ]),
        ),
      );
      io.out(lines.join('\n'));
    });

  withApiOptions(incidents.command('state'))
    .description(
      `move an incident forward: ${incidentStates.slice(1, -1).join(', ')} (close with \`incidents close\`)`,
    )
    .argument('<id>', 'incident id')
    .argument('<state>', 'the new state')
    .option('--note <text>', 'why, on the timeline')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward incidents state inc-12d60aaf40e72339 contained --note 'isolated, PLC link kept'",
    )
    .action(async (id: string, state: string, flags: JsonFlags & { note?: string }) => {
      const incident = await operatorApiFrom(flags, io).changeIncidentState(
        id,
        parseState(state),
        flags.note,
      );
      io.out(flags.json ? json(incident) : describe(incident));
    });

  withApiOptions(incidents.command('assign'))
    .description('assign an incident')
    .argument('<id>', 'incident id')
    .argument('<assignee>', 'operator name')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward incidents assign inc-12d60aaf40e72339 bob')
    .action(async (id: string, assignee: string, flags: JsonFlags) => {
      const incident = await operatorApiFrom(flags, io).assignIncident(id, assignee);
      io.out(flags.json ? json(incident) : describe(incident));
    });

  withApiOptions(incidents.command('note'))
    .description('add a note to the timeline')
    .argument('<id>', 'incident id')
    .argument('<text>', 'the note')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward incidents note inc-12d60aaf40e72339 'came in over the vendor VPN'",
    )
    .action(async (id: string, text: string, flags: JsonFlags) => {
      const incident = await operatorApiFrom(flags, io).noteIncident(id, text);
      io.out(flags.json ? json(incident) : `noted on ${incident.id}`);
    });

  withApiOptions(incidents.command('step'))
    .description('tick off a step of the playbook checklist (or reopen it with --undo)')
    .argument('<id>', 'incident id')
    .argument('<step>', 'step id, as `incidents show` lists them')
    .option('--undo', 'mark the step not done again')
    .option('--note <text>', 'what was done, on the timeline')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward incidents step inc-12d60aaf40e72339 capture --note 'bundle 6f1c'",
    )
    .action(async (id: string, step: string, flags: JsonFlags & { undo?: boolean; note?: string }) => {
      const incident = await operatorApiFrom(flags, io).tickIncidentStep(
        id,
        step,
        flags.undo !== true,
        flags.note,
      );
      const done = incident.steps.filter((entry) => entry.doneAt !== null).length;
      io.out(flags.json ? json(incident) : `${incident.id}: ${done} of ${incident.steps.length} steps done`);
    });

  withApiOptions(incidents.command('close'))
    .description('close an incident with its resolution')
    .argument('<id>', 'incident id')
    .requiredOption('--resolution <text>', 'how it ended')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward incidents close inc-12d60aaf40e72339 --resolution 'reimaged; VPN account disabled'",
    )
    .action(async (id: string, flags: JsonFlags & { resolution: string }) => {
      const incident = await operatorApiFrom(flags, io).closeIncident(id, flags.resolution);
      io.out(flags.json ? json(incident) : describe(incident));
    });
}

function parseState(value: string): IncidentState {
  const state = incidentStates.find((candidate) => candidate === value);
  if (state === undefined) throw new UsageError(`state ${value} is not one of ${incidentStates.join(', ')}`);
  return state;
}

function duration(ms: number | null): string {
  return ms === null ? '-' : formatDuration(ms);
}

function describe(incident: IncidentView): string {
  return `${incident.id}: ${incident.state}, assignee ${incident.assignee ?? '-'}, time to contain ${duration(incident.timeToContainMs)}`;
}
