/**
 * Exact decimal parsing for prices: `0.075`, `'0.075'`, `1.5e-7` become scaled integers (bigint) without
 * ever multiplying a float, so a rate is exactly the decimal that was written.
 */

// Numbers print in exponent form below 1e-6 (String(1.5e-7) === '1.5e-7'): accept that form too.
const DECIMAL = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d{1,2}))?$/;
const MAX_LENGTH = 40;

interface DecimalParts {
  int: string;
  /** Fraction digits without trailing zeros. */
  frac: string;
}

function partsOf(value: unknown): DecimalParts | string {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return `got ${value}`;
    if (value < 0) return `got ${value}; a price cannot be negative`;
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.trim();
    if (text.startsWith('-')) return `got '${value}'; a price cannot be negative`;
  } else {
    return `got ${value === null ? 'null' : typeof value}`;
  }
  const m = text.length <= MAX_LENGTH ? DECIMAL.exec(text) : null;
  if (!m) return `got ${typeof value === 'string' ? `'${value}'` : String(value)}; expected a plain decimal such as 2.5 or '0.075'`;
  let digits = m[1] + (m[2] ?? '');
  let point = m[1].length + (m[3] ? Number(m[3]) : 0);
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  return { int: digits.slice(0, point).replace(/^0+(?=\d)/, '') || '0', frac: digits.slice(point).replace(/0+$/, '') };
}

/** Why `value` is not a valid price with at most `decimals` decimals, or null when it is. */
export function decimalProblem(value: unknown, decimals: number): string | null {
  const p = partsOf(value);
  if (typeof p === 'string') return p;
  if (p.frac.length > decimals) return `got ${String(value)}, which has ${p.frac.length} decimals; at most ${decimals} are allowed`;
  return null;
}

/**
 * `value` x 10^decimals as an exact bigint. `round` = 'exact' throws on extra decimals (user input);
 * 'half-up' rounds them (the bundled table holds a few floats such as 0.08333333333333334).
 */
export function scaleDecimal(value: number | string, decimals: number, round: 'exact' | 'half-up' = 'exact'): bigint {
  const p = partsOf(value);
  if (typeof p === 'string') throw new RangeError(p);
  let frac = p.frac;
  let carry = 0n;
  if (frac.length > decimals) {
    if (round === 'exact') throw new RangeError(`got ${String(value)}, which has ${frac.length} decimals; at most ${decimals} are allowed`);
    carry = frac.charCodeAt(decimals) >= 53 /* '5' */ ? 1n : 0n;
    frac = frac.slice(0, decimals);
  }
  return BigInt(p.int) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, '0') || '0') + carry;
}
