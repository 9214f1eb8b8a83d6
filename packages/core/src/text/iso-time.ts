/**
 * The text Date's toISOString writes for `ms`, built from the UTC fields. V8's toISOString asks for the local time
 * zone's offset even though it prints UTC, and the first such question loads ICU's time-zone data: about
 * 0.8 MB of resident memory that a device agent, which never needs local time, would otherwise carry
 * (bench/RESULTS.md). Code that runs on a device formats times with this; the device bundle's test checks
 * that nothing in it calls toISOString.
 */
export function isoTime(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime()))
    throw new RangeError(`${ms} is not a time that can be written as ISO 8601`);
  const year = date.getUTCFullYear();
  // ISO 8601's expanded years, as toISOString writes them: ±YYYYYY outside 0000–9999.
  const yearText =
    year >= 0 && year <= 9999
      ? String(year).padStart(4, '0')
      : `${year < 0 ? '-' : '+'}${String(Math.abs(year)).padStart(6, '0')}`;
  const two = (value: number) => String(value).padStart(2, '0');
  const millis = String(date.getUTCMilliseconds()).padStart(3, '0');
  return `${yearText}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}T${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}.${millis}Z`;
}
