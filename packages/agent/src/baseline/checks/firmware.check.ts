import { compareDpkgVersions } from '@edgeward/core';
import { createRootFs } from '../../inventory/root-fs.ts';
import { readFirmware } from '../../inventory/system.ts';
import { type BaselineContext, type CheckOutcome, outcome, type SpecOf } from '../check-outcome.ts';

/**
 * The version from its first digit on: vendors prefix their versions (`U-Boot 2023.04`, `P2.40`, `F.52`),
 * and the prefix would decide a dpkg comparison on its own.
 */
const comparable = (version: string): string => version.slice(Math.max(0, version.search(/\d/)));

/** The firmware's version (DMI, then the device tree), compared with dpkg's ordering. */
export async function evaluateFirmware(
  spec: SpecOf<'firmware'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const firmware = await readFirmware(createRootFs(context.root, context.live), undefined);
  const version = firmware.version;
  if (version === undefined || version === '') {
    return outcome(
      'error',
      `no firmware version was found (looked in SMBIOS/DMI and the device tree; source: ${firmware.source})`,
    );
  }
  const found = `firmware ${version} (${firmware.source}${firmware.vendor === undefined ? '' : `, ${firmware.vendor}`})`;
  return compareDpkgVersions(comparable(version), comparable(spec.minVersion)) < 0
    ? outcome('fail', `${found} is older than ${spec.minVersion}`)
    : outcome('pass', `${found} is at least ${spec.minVersion}`);
}
