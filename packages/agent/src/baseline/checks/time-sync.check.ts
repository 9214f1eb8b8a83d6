import { type BaselineContext, type CheckOutcome, outcome } from '../check-outcome.ts';
import { describeServiceSources, findRunningService } from '../service-state.ts';

/** Daemons and units that keep the clock synchronized; busybox's ntpd runs as `ntpd`. */
const timeDaemons = ['chronyd', 'chrony', 'systemd-timesyncd', 'ntpd', 'ntp', 'ntpsec', 'openntpd'];
const timedatectlTimeoutMs = 10_000;

/**
 * A time daemon runs (by the service logic of service-state.ts); on the live system, systemd's own
 * verdict (`timedatectl show -p NTPSynchronized`) also passes, for clocks set by another means.
 */
export async function evaluateTimeSync(context: BaselineContext): Promise<CheckOutcome> {
  const seen = await findRunningService(context, timeDaemons);
  if (seen !== undefined) return outcome('pass', seen.evidence);
  if (context.live && context.run !== undefined) {
    try {
      const result = await context.run('timedatectl', ['show', '--property=NTPSynchronized', '--value'], {
        timeoutMs: timedatectlTimeoutMs,
      });
      if (result.exitCode === 0 && result.stdout.trim() === 'yes') {
        return outcome('pass', 'no time daemon was found, but timedatectl reports NTPSynchronized=yes');
      }
    } catch {
      // No timedatectl here: the daemons were the only way to tell.
    }
  }
  return outcome(
    'fail',
    `no time synchronization daemon runs (${timeDaemons.join(', ')}; looked in ${await describeServiceSources(context)})`,
  );
}
