import type { CompiledCheck } from '@edgeward/core';
import { type BaselineContext, type CheckOutcome, outcome } from './check-outcome.ts';
import { evaluateAccounts } from './checks/accounts.check.ts';
import { evaluateCommand } from './checks/command.check.ts';
import { evaluateDiskEncryption } from './checks/disk-encryption.check.ts';
import { evaluateFile } from './checks/file.check.ts';
import { evaluateFirmware } from './checks/firmware.check.ts';
import { evaluateListeningPorts } from './checks/listening-ports.check.ts';
import { evaluateLogging } from './checks/logging.check.ts';
import { evaluatePackage } from './checks/package.check.ts';
import { evaluateService } from './checks/service.check.ts';
import { evaluateSshd } from './checks/sshd.check.ts';
import { evaluateSysctl } from './checks/sysctl.check.ts';
import { evaluateTimeSync } from './checks/time-sync.check.ts';
import { evaluateWorldWritable } from './checks/world-writable.check.ts';
import { describeError } from './root-files.ts';

/**
 * Evaluates one baseline check against the device's root. Never throws: a source that cannot be read
 * gives `error` with what failed, a check that cannot apply here (no sshd_config, a command on a tree
 * that is not running) gives `not-applicable`.
 */
export async function evaluateCheck(check: CompiledCheck, context: BaselineContext): Promise<CheckOutcome> {
  const { spec } = check;
  try {
    switch (spec.type) {
      case 'listening-ports':
        return await evaluateListeningPorts(spec, context);
      case 'service':
        return await evaluateService(spec, context);
      case 'sshd':
        return await evaluateSshd(spec, context);
      case 'file':
        return await evaluateFile(spec, context);
      case 'sysctl':
        return await evaluateSysctl(spec, context);
      case 'package':
        return await evaluatePackage(spec, context);
      case 'firmware':
        return await evaluateFirmware(spec, context);
      case 'accounts':
        return await evaluateAccounts(spec, context);
      case 'disk-encryption':
        return await evaluateDiskEncryption(spec, context);
      case 'logging':
        return await evaluateLogging(spec, context);
      case 'time-sync':
        return await evaluateTimeSync(context);
      case 'world-writable':
        return await evaluateWorldWritable(spec, context);
      case 'command':
        return await evaluateCommand(spec, context);
    }
  } catch (error) {
    return outcome('error', `the ${spec.type} check failed unexpectedly: ${describeError(error)}`);
  }
}
