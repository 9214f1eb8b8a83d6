import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  activeMaintenanceWindow,
  isInsideWindow,
  isValidTimeZone,
  windowsForSegment,
} from './maintenance-window.ts';
import { activeMaintenanceWindowOnDemand } from './maintenance-window-on-demand.ts';
import { type CompiledWindow, type Weekday, weekdays } from './policy.schema.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;

function weekly(
  timeZone: string,
  ranges: { days: Weekday[]; start: string; end: string }[],
  segments: string[] = [],
  id = 'w',
): CompiledWindow {
  return { id, segments, timeZone, schedule: { kind: 'weekly', ranges } };
}

function cron(
  timeZone: string,
  expression: string,
  durationMs: number,
  segments: string[] = [],
  id = 'c',
): CompiledWindow {
  return { id, segments, timeZone, schedule: { kind: 'cron', cron: expression, durationMs } };
}

function clock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** Minutes of a UTC day [from, from + 1 day) during which the window is open. */
function openMinutes(window: CompiledWindow, from: number, span = DAY): number {
  let open = 0;
  for (let t = from; t < from + span; t += MINUTE) if (isInsideWindow(window, t)) open += 1;
  return open;
}

const instant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) });
const nearBoundary = fc.record({
  atEnd: fc.boolean(),
  dayShift: fc.integer({ min: 0, max: 6 }),
  deltaMs: fc.oneof(
    fc.constantFrom(-1, 0, 1, MINUTE - 1, MINUTE, -MINUTE),
    fc.integer({ min: -MINUTE, max: MINUTE }),
  ),
});

describe('isInsideWindow, weekly ranges', () => {
  // Zones without daylight saving time, so the oracle can shift by a fixed offset.
  const fixedZones = [
    { zone: 'UTC', offsetMinutes: 0 },
    { zone: 'Asia/Kolkata', offsetMinutes: 330 },
    { zone: 'Asia/Tokyo', offsetMinutes: 540 },
    { zone: 'America/Panama', offsetMinutes: -300 },
  ];

  it('is open exactly during the minutes of its ranges, midnight crossings included', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...fixedZones),
        fc.uniqueArray(fc.constantFrom(...weekdays), { minLength: 1 }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 0, max: 1439 }),
        instant,
        fc.oneof(fc.constant(undefined), nearBoundary),
        ({ zone, offsetMinutes }, days, start, end, randomNow, boundary) => {
          const window = weekly(zone, [{ days, start: clock(start), end: clock(end) }]);
          // Half the runs land within a minute of a local start or end, where off-by-one errors live.
          const now =
            boundary === undefined
              ? randomNow
              : (Math.floor(randomNow / DAY) * 1440 +
                  (boundary.atEnd ? end : start) -
                  offsetMinutes +
                  boundary.dayShift * 1440) *
                  MINUTE +
                boundary.deltaMs;
          // Oracle: the open intervals in local minutes since a Monday, this week and the last.
          const localMinute = Math.floor(now / MINUTE) + offsetMinutes;
          const dayNumber = Math.floor(localMinute / 1440);
          const weekday = (new Date(dayNumber * DAY).getUTCDay() + 6) % 7;
          const weekStart = (dayNumber - weekday) * 1440;
          const length = end > start ? end - start : end - start + 1440;
          const expected = [0, -1].some((week) =>
            days.some((day) => {
              const opens = weekStart + week * 7 * 1440 + weekdays.indexOf(day) * 1440 + start;
              return opens <= localMinute && localMinute < opens + length;
            }),
          );
          assert.equal(isInsideWindow(window, now), expected);
        },
      ),
    );
  });

  it('crosses midnight into the next day, belonging to the day it starts on', () => {
    const window = weekly('Europe/Berlin', [{ days: ['fri'], start: '22:00', end: '02:00' }]);
    // June: Berlin is UTC+2.
    assert.ok(isInsideWindow(window, Date.UTC(2026, 5, 12, 20, 0)), 'Friday 22:00');
    assert.ok(isInsideWindow(window, Date.UTC(2026, 5, 12, 23, 30)), 'Saturday 01:30');
    assert.ok(!isInsideWindow(window, Date.UTC(2026, 5, 13, 0, 0)), 'Saturday 02:00 closes it');
    assert.ok(!isInsideWindow(window, Date.UTC(2026, 5, 11, 23, 30)), 'Friday 01:30 is Thursday night');
    assert.ok(!isInsideWindow(window, Date.UTC(2026, 5, 12, 19, 59)), 'Friday 21:59');
  });

  it('reads start equal to end as a whole day from start', () => {
    const window = weekly('UTC', [{ days: ['mon'], start: '06:00', end: '06:00' }]);
    const monday = Date.UTC(2026, 5, 8);
    assert.equal(openMinutes(window, monday - DAY, 3 * DAY), 1440);
    assert.ok(isInsideWindow(window, monday + 6 * 3_600_000));
    assert.ok(isInsideWindow(window, monday + DAY + 6 * 3_600_000 - MINUTE));
    assert.ok(!isInsideWindow(window, monday + DAY + 6 * 3_600_000));
  });

  describe('daylight saving time in Europe/Berlin (wall-clock times)', () => {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC. 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
    const springDay = Date.UTC(2026, 2, 28, 23); // local midnight of Sunday 29 March (CET)
    const autumnDay = Date.UTC(2026, 9, 24, 22); // local midnight of Sunday 25 October (CEST)
    const ordinaryDay = Date.UTC(2026, 5, 13, 22); // Sunday 14 June (CEST)
    const twoToFour = weekly('Europe/Berlin', [{ days: ['sun'], start: '02:00', end: '04:00' }]);

    it('is open for the full range on an ordinary Sunday', () => {
      assert.equal(openMinutes(twoToFour, ordinaryDay), 120);
    });

    it('loses the skipped hour when the clocks go forward', () => {
      assert.equal(openMinutes(twoToFour, springDay), 60);
      assert.ok(!isInsideWindow(twoToFour, Date.UTC(2026, 2, 29, 0, 59)), '01:59 CET');
      assert.ok(isInsideWindow(twoToFour, Date.UTC(2026, 2, 29, 1, 0)), '03:00 CEST');
      assert.ok(isInsideWindow(twoToFour, Date.UTC(2026, 2, 29, 1, 59)), '03:59 CEST');
      assert.ok(!isInsideWindow(twoToFour, Date.UTC(2026, 2, 29, 2, 0)), '04:00 CEST');
    });

    it('does not open that day when the range lies inside the skipped hour', () => {
      const skipped = weekly('Europe/Berlin', [{ days: ['sun'], start: '02:15', end: '02:45' }]);
      assert.equal(openMinutes(skipped, springDay), 0);
      assert.equal(openMinutes(skipped, ordinaryDay), 30);
    });

    it('is open during both passes of the repeated hour when the clocks go back', () => {
      const twoToThree = weekly('Europe/Berlin', [{ days: ['sun'], start: '02:00', end: '03:00' }]);
      assert.equal(openMinutes(twoToThree, autumnDay), 120);
      assert.ok(isInsideWindow(twoToThree, Date.UTC(2026, 9, 25, 0, 0)), '02:00 CEST');
      assert.ok(isInsideWindow(twoToThree, Date.UTC(2026, 9, 25, 1, 30)), '02:30 CET');
      assert.ok(!isInsideWindow(twoToThree, Date.UTC(2026, 9, 25, 2, 0)), '03:00 CET');
      assert.equal(openMinutes(twoToFour, autumnDay), 180);
    });
  });
});

describe('isInsideWindow, cron windows', () => {
  it('is open exactly when an occurrence lies within the duration before now', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 0, max: 23 }),
        fc.option(fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 3 }), {
          nil: undefined,
        }),
        fc.integer({ min: 1, max: 3 * DAY }),
        instant,
        fc.oneof(fc.constant(undefined), nearBoundary),
        (minute, hour, weekdayNumbers, durationMs, randomNow, boundary) => {
          const days = weekdayNumbers === undefined ? '*' : weekdayNumbers.join(',');
          // Half the runs land next to an occurrence or to the end of its duration.
          const now =
            boundary === undefined
              ? randomNow
              : (Math.floor(randomNow / DAY) + boundary.dayShift) * DAY +
                hour * 3_600_000 +
                minute * MINUTE +
                (boundary.atEnd ? durationMs : 0) +
                boundary.deltaMs;
          const window = cron('UTC', `${minute} ${hour} * * ${days}`, durationMs);
          // Oracle: every daily occurrence that could still be open, checked directly.
          let expected = false;
          const today = Math.floor(now / DAY);
          for (let day = today - Math.ceil(durationMs / DAY) - 1; day <= today; day += 1) {
            const occurrence = day * DAY + hour * 3_600_000 + minute * MINUTE;
            const dayOfWeek = new Date(occurrence).getUTCDay();
            if (weekdayNumbers !== undefined && !weekdayNumbers.includes(dayOfWeek)) continue;
            if (occurrence <= now && now < occurrence + durationMs) expected = true;
          }
          assert.equal(isInsideWindow(window, now), expected);
        },
      ),
    );
  });

  it('opens at the occurrence and closes at the end of the duration', () => {
    const window = cron('Europe/Berlin', '0 3 1 * *', 4 * 3_600_000);
    const opens = Date.UTC(2026, 6, 1, 1); // 03:00 CEST on 1 July
    assert.ok(!isInsideWindow(window, opens - 1));
    assert.ok(isInsideWindow(window, opens));
    assert.ok(isInsideWindow(window, opens + 4 * 3_600_000 - 1));
    assert.ok(!isInsideWindow(window, opens + 4 * 3_600_000));
  });

  it('follows croner through daylight saving time: the skipped 02:00 runs at 03:00, the repeated one once', () => {
    const nightly = cron('Europe/Berlin', '0 2 * * *', 3_600_000);
    assert.ok(!isInsideWindow(nightly, Date.UTC(2026, 2, 29, 0, 30)), '01:30 CET');
    assert.ok(
      isInsideWindow(nightly, Date.UTC(2026, 2, 29, 1, 0)),
      '03:00 CEST, the first time after the gap',
    );
    assert.ok(!isInsideWindow(nightly, Date.UTC(2026, 2, 29, 2, 0)), '04:00 CEST');
    assert.ok(isInsideWindow(nightly, Date.UTC(2026, 9, 25, 0, 30)), '02:30 CEST');
    assert.ok(!isInsideWindow(nightly, Date.UTC(2026, 9, 25, 1, 30)), '02:30 CET: no second run');
  });
});

describe('activeMaintenanceWindow', () => {
  const always = weekly('UTC', [{ days: [...weekdays], start: '00:00', end: '00:00' }]);
  const policy = {
    windows: [
      { ...always, id: 'a-gateways', segments: ['gateways'] },
      { ...always, id: 'b-everyone', segments: [] },
      weekly('UTC', [{ days: ['mon'], start: '01:00', end: '02:00' }], ['kiosks'], 'c-kiosks'),
    ],
  };

  it('gives the first open window that applies to the segment', () => {
    const now = Date.UTC(2026, 5, 8, 1, 30); // a Monday
    assert.equal(activeMaintenanceWindow(policy, 'gateways', now)?.id, 'a-gateways');
    assert.equal(activeMaintenanceWindow(policy, 'kiosks', now)?.id, 'b-everyone');
    assert.equal(activeMaintenanceWindow(policy, 'default', now)?.id, 'b-everyone');
  });

  it('gives nothing when no window of the segment is open', () => {
    const only = { windows: [policy.windows[2] as CompiledWindow] };
    assert.equal(activeMaintenanceWindow(only, 'kiosks', Date.UTC(2026, 5, 8, 3)), undefined);
    assert.equal(activeMaintenanceWindow(only, 'gateways', Date.UTC(2026, 5, 8, 1, 30)), undefined);
    assert.equal(activeMaintenanceWindow({ windows: [] }, 'gateways', Date.UTC(2026, 5, 8)), undefined);
  });

  it('lists the windows of a segment', () => {
    assert.deepEqual(
      windowsForSegment(policy, 'kiosks').map((window) => window.id),
      ['b-everyone', 'c-kiosks'],
    );
  });
});

describe('activeMaintenanceWindowOnDemand', () => {
  it('gives what activeMaintenanceWindow gives, for weekly, cron and mixed windows in several zones', async () => {
    const policies = [
      { windows: [] },
      {
        windows: [
          weekly('Europe/Berlin', [{ days: ['fri', 'sat'], start: '22:00', end: '02:00' }], ['kiosks'], 'a'),
          weekly('America/New_York', [{ days: ['mon', 'wed'], start: '01:30', end: '04:00' }], [], 'b'),
        ],
      },
      {
        windows: [
          cron('Asia/Kolkata', '30 2 * * *', 90 * MINUTE, [], 'c'),
          weekly('UTC', [{ days: ['sun'], start: '00:00', end: '06:00' }], ['gateways'], 'd'),
          cron('Europe/Berlin', '0 */6 * * 1-5', 45 * MINUTE, ['kiosks'], 'e'),
        ],
      },
    ];
    let open = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...policies),
        fc.constantFrom('kiosks', 'gateways', 'default'),
        instant,
        async (policy, segment, now) => {
          const lazy = await activeMaintenanceWindowOnDemand(policy, segment, now);
          assert.equal(lazy?.id, activeMaintenanceWindow(policy, segment, now)?.id);
          if (lazy !== undefined) open += 1;
        },
      ),
      { numRuns: 500 },
    );
    assert.ok(open > 0, 'some of the instants fall inside a window');
  });
});

describe('isValidTimeZone', () => {
  it('accepts IANA names and refuses unknown names and bare offsets', () => {
    assert.ok(isValidTimeZone('Europe/Berlin'));
    assert.ok(isValidTimeZone('UTC'));
    assert.ok(isValidTimeZone('America/Argentina/Buenos_Aires'));
    assert.ok(!isValidTimeZone('Mars/Olympus'));
    assert.ok(!isValidTimeZone('+01:00'));
    assert.ok(!isValidTimeZone(''));
  });
});
