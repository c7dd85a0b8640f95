/** Money is integer nano-USD (1e-9 USD); these helpers keep it exact. */
export const NANO_PER_USD = 1_000_000_000n;

/** Exact decimal string in USD with nine decimals, e.g. 1234n -> "0.000001234". */
export function nanoUsdToString(nano: number | bigint): string {
  const n = typeof nano === 'bigint' ? nano : BigInt(nano);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const whole = abs / NANO_PER_USD;
  const frac = (abs % NANO_PER_USD).toString().padStart(9, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}
