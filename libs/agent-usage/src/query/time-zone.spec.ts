import { dayKey, endOfDayExclusive, hourKey, isStartOfDay, parseDay, startOfDay, utcDaysBetween } from './time-zone';
import { nanoUsdToString } from './money';

describe('time zones', () => {
  it('UTC days', () => {
    expect(startOfDay('2026-03-08').toISOString()).toBe('2026-03-08T00:00:00.000Z');
    expect(endOfDayExclusive('2026-12-31').toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(dayKey(new Date('2026-03-08T23:59:59.999Z'))).toBe('2026-03-08');
  });
  it('DST days in New York are 23 and 25 hours long', () => {
    const s = startOfDay('2026-03-08', 'America/New_York');
    const e = endOfDayExclusive('2026-03-08', 'America/New_York');
    expect(s.toISOString()).toBe('2026-03-08T05:00:00.000Z');
    expect((e.getTime() - s.getTime()) / 3_600_000).toBe(23);
    const s2 = startOfDay('2026-11-01', 'America/New_York');
    expect((endOfDayExclusive('2026-11-01', 'America/New_York').getTime() - s2.getTime()) / 3_600_000).toBe(25);
    expect(isStartOfDay(s, 'America/New_York')).toBe(true);
    expect(isStartOfDay(new Date(s.getTime() + 1), 'America/New_York')).toBe(false);
  });
  it('keys in a zone with a half-hour offset', () => {
    const d = new Date('2026-05-01T18:45:00Z');
    expect(dayKey(d, 'Asia/Kolkata')).toBe('2026-05-02');
    expect(hourKey(d, 'Asia/Kolkata')).toBe('2026-05-02T00');
  });
  it('parses only real calendar days', () => {
    expect(parseDay('2026-02-29')).toBeNull();
    expect(parseDay('2028-02-29')).toEqual({ y: 2028, m: 2, d: 29 });
    expect(parseDay('2026-1-01')).toBeNull();
  });
  it('lists UTC days overlapping a range', () => {
    expect(utcDaysBetween(new Date('2026-01-01T23:00:00Z'), new Date('2026-01-03T00:00:00Z'))).toEqual(['2026-01-01', '2026-01-02']);
  });
});

describe('money', () => {
  it('formats nano-USD exactly', () => {
    expect(nanoUsdToString(0)).toBe('0.000000000');
    expect(nanoUsdToString(1234)).toBe('0.000001234');
    expect(nanoUsdToString(12_345_678_901_234_567_890n)).toBe('12345678901.234567890');
    expect(nanoUsdToString(-5)).toBe('-0.000000005');
  });
});
