import { comparePackageVersions, type InventoryPackage, type PackageVersionFormat } from '@edgeward/core';
import { readPackages } from '../../inventory/packages.ts';
import { createRootFs } from '../../inventory/root-fs.ts';
import { type BaselineContext, type CheckOutcome, listSome, outcome, type SpecOf } from '../check-outcome.ts';

/** opkg orders versions as dpkg does, whose code it carries. */
const versionFormat: Record<InventoryPackage['manager'], PackageVersionFormat> = {
  dpkg: 'dpkg',
  opkg: 'dpkg',
  apk: 'apk',
  rpm: 'rpm',
};

const describe = (p: InventoryPackage) =>
  `${p.name} ${p.version}${p.architecture === undefined ? '' : ` (${p.architecture})`}`;

/**
 * A package's presence and version, from the package databases under the root (dpkg, opkg and apk
 * files; rpm's database only on the live system, through `rpm -qa`). Every installed instance (one per
 * architecture) must meet `minVersion`, compared by its package manager's own ordering.
 */
export async function evaluatePackage(
  spec: SpecOf<'package'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const packages = await readPackages(
    createRootFs(context.root, context.live),
    context.live ? context.run : undefined,
  );
  if (packages.length === 0) {
    return outcome(
      'error',
      'no package database was found (dpkg, opkg, apk; rpm is read on the live system only)',
    );
  }
  const installed = packages.filter((p) => p.name === spec.name);
  if (spec.state === 'absent') {
    return installed.length === 0
      ? outcome('pass', `${spec.name} is not installed`)
      : outcome('fail', `${listSome(installed.map(describe))} is installed and should not be`);
  }
  if (installed.length === 0) return outcome('fail', `${spec.name} is not installed`);
  const { minVersion } = spec;
  if (minVersion === undefined) return outcome('pass', `${listSome(installed.map(describe))} is installed`);
  const older = installed.filter(
    (p) => comparePackageVersions(versionFormat[p.manager], p.version, minVersion) < 0,
  );
  if (older.length > 0)
    return outcome('fail', `${listSome(older.map(describe))} is older than ${minVersion}`);
  return outcome('pass', `${listSome(installed.map(describe))} is at least ${minVersion}`);
}
