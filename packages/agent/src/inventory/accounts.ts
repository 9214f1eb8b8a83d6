import type { InventoryGroup, InventoryUser } from '@edgeward/core';
import type { RootFs } from './root-fs.ts';

/** Lines of a colon-separated database; NIS `+`/`-` inclusion lines name no local account. */
function records(text: string | undefined, minFields: number): string[][] {
  return (text?.split('\n') ?? [])
    .filter((line) => line.trim() !== '' && !/^[#+-]/.test(line))
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= minFields);
}

const integer = (value: string | undefined): number | undefined =>
  value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;

/** Every account in etc/passwd; a UID 0 account other than root shows as such through `uid`. */
export async function readUsers(fs: RootFs): Promise<InventoryUser[]> {
  const users: InventoryUser[] = [];
  for (const [name, , uidText, gidText, , home, shell] of records(await fs.text('etc/passwd'), 7)) {
    const uid = integer(uidText);
    const gid = integer(gidText);
    if (name === undefined || name === '' || uid === undefined || gid === undefined) continue;
    users.push({ name, uid, gid, home: home ?? '', shell: shell?.trim() ?? '' });
  }
  return users;
}

export async function readGroups(fs: RootFs): Promise<InventoryGroup[]> {
  const groups: InventoryGroup[] = [];
  for (const [name, , gidText, members] of records(await fs.text('etc/group'), 4)) {
    const gid = integer(gidText);
    if (name === undefined || name === '' || gid === undefined) continue;
    const list = (members ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    groups.push({ name, gid, members: list });
  }
  return groups;
}
