import { endianness } from 'node:os';
import type { InventoryListener } from '@edgeward/core';
import { readSockets } from '../../inventory/network.ts';
import { createRootFs } from '../../inventory/root-fs.ts';
import { type BaselineContext, type CheckOutcome, listSome, outcome, type SpecOf } from '../check-outcome.ts';
import { existsInRoot } from '../root-files.ts';

const socketTables = ['/proc/net/tcp', '/proc/net/tcp6', '/proc/net/udp', '/proc/net/udp6'];

const describeListener = (l: InventoryListener) =>
  `${l.protocol} ${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}${l.process === undefined ? '' : ` (${l.process.name})`}`;

/** Listening TCP sockets and bound UDP sockets, from the kernel's socket tables under the root. */
export async function evaluateListeningPorts(
  spec: SpecOf<'listening-ports'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const present = await Promise.all(socketTables.map((table) => existsInRoot(context.root, table)));
  if (!present.some(Boolean)) return outcome('error', `none of ${socketTables.join(', ')} could be read`);
  const { listeners } = await readSockets(
    createRootFs(context.root, context.live),
    context.procByteOrder ?? endianness(),
  );
  const considered = listeners.filter((l) => spec.protocol === 'any' || l.protocol === spec.protocol);
  const forbidden = new Set(spec.forbidden ?? []);
  const allowed = spec.allowed === undefined ? undefined : new Set(spec.allowed);
  const offending = considered.filter(
    (l) => forbidden.has(l.port) || (allowed !== undefined && !allowed.has(l.port)),
  );
  if (offending.length > 0) {
    const why =
      spec.allowed === undefined ? 'forbidden ports listen' : 'ports outside the allowed list listen';
    return outcome('fail', `${why}: ${listSome(offending.map(describeListener))}`);
  }
  const scope = spec.protocol === 'any' ? '' : `${spec.protocol} `;
  return outcome(
    'pass',
    considered.length === 0
      ? `no ${scope}port listens`
      : `${considered.length} ${scope}listening socket(s), none forbidden: ${listSome(considered.map(describeListener))}`,
  );
}
