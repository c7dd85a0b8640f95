/**
 * Numbers on the page come from the API's exact decimal strings (`*_exact`), never from the float twins,
 * so a figure shown equals the API's to the cent: the string is rounded half up with integer arithmetic.
 */

const groups = (digits: string): string => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** "1234.565" -> { neg: false, int: 1234n, frac: "565" }; null for anything that is not a decimal. */
function parseDecimal(exact: string): { neg: boolean; int: bigint; frac: string } | null {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(exact.trim());
  if (!m) return null;
  return { neg: m[1] === '-', int: BigInt(m[2]), frac: m[3] ?? '' };
}

/** Rounds a decimal string half up (away from zero) to `places` decimals; returns the digits with a dot. */
export function roundDecimal(exact: string, places: number): string {
  const d = parseDecimal(exact);
  if (!d) return exact;
  const scale = 10n ** BigInt(places);
  const frac = (d.frac + '0'.repeat(places + 1)).slice(0, places + 1);
  let scaled = d.int * scale + BigInt(frac.slice(0, places) || '0');
  if (Number(frac[places]) >= 5) scaled += 1n;
  const int = scaled / scale;
  const rest = (scaled % scale).toString().padStart(places, '0');
  const neg = d.neg && scaled !== 0n;
  return `${neg ? '-' : ''}${groups(int.toString())}${places ? `.${rest}` : ''}`;
}

/**
 * USD from an exact string: cents, except amounts under a cent (an average cost per call), which keep
 * up to 3 significant digits so they do not read as $0.00.
 */
export function money(exact: string | null | undefined): string {
  if (exact === null || exact === undefined) return '–';
  const d = parseDecimal(exact);
  if (!d) return exact;
  const sign = d.neg ? '-' : '';
  if (d.int === 0n && d.frac.startsWith('00') && /[1-9]/.test(d.frac)) {
    const lead = /^0*/.exec(d.frac)![0].length;
    return `${sign}$${roundDecimal(exact.replace(/^-/, ''), Math.min(lead + 3, 9))}`;
  }
  return `${sign}$${roundDecimal(exact.replace(/^-/, ''), 2)}`;
}

/** Integer counts with thousands separators; exact for any safe integer (and for integer strings). */
export function count(n: number | string | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const s = typeof n === 'number' ? (Number.isInteger(n) ? String(n) : n.toFixed(2)) : n;
  const [int, frac] = s.replace(/^-/, '').split('.');
  return `${s.startsWith('-') ? '-' : ''}${groups(int)}${frac ? `.${frac}` : ''}`;
}

/** Compact token counts for chart axes: 1.2k, 3.4M. */
export function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toFixed(1)}B`;
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(+n.toFixed(2));
}

export function percent(p: number | null | undefined): string {
  return p === null || p === undefined ? '–' : `${p.toFixed(p % 1 === 0 ? 0 : 2).replace(/\.?0+$/, (z) => (z.includes('.') ? '' : z))}%`;
}

/** Relative change between two exact decimal strings, in percent (1 decimal); null when before is 0. */
export function change(now: string, before: string): number | null {
  const a = Number(now);
  const b = Number(before);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return Math.round(((a - b) / b) * 1000) / 10;
}

/** "2026-12-06" -> "Dec 6"; the date is a calendar day in the API's time zone, so no Date math. */
export function shortDate(day: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return day;
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${months[Number(m[2]) - 1]} ${Number(m[3])}`;
}

/** Adds whole days to a YYYY-MM-DD calendar day (UTC arithmetic on the date only). */
export function addDays(day: string, days: number): string {
  const t = Date.parse(`${day}T00:00:00Z`) + days * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

export function daysBetween(start: string, end: string): number {
  return Math.round((Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / 86_400_000) + 1;
}
