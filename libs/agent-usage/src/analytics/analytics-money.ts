/**
 * Exact money and ratio arithmetic of the analytics answers. Money is integer nano-USD (bigint); the
 * USD number is parsed from the exact decimal string, so it is the double nearest the exact value and
 * never the result of float sums. Divisions round half-up once, at the end.
 */
import { nanoUsdToString } from '../query/money';

/** `{ <name>: number, <name>Exact: string }` of a nano-USD amount. */
export function money(nano: bigint): { usd: number; exact: string } {
  const exact = nanoUsdToString(nano);
  return { usd: Number(exact), exact };
}

/** num / den rounded half-up to an integer (den > 0, num >= 0); 0 when den is 0. */
export function divRound(num: bigint, den: bigint): bigint {
  if (den === 0n) return 0n;
  return (num * 2n + den) / (den * 2n);
}

/** num / den x 100 with two decimals, rounded half-up on the integer hundredths; null when den is 0. */
export function percentOf(num: bigint, den: bigint): number | null {
  if (den === 0n) return null;
  return Number(divRound(num * 10_000n, den)) / 100;
}

/** A non-negative integer quotient with two decimals (e.g. operations per day), half-up. */
export function ratio2(num: bigint, den: bigint): number {
  return den === 0n ? 0 : Number(divRound(num * 100n, den)) / 100;
}

/**
 * Shares of `weights` in hundredths of a percent that sum to exactly 10,000 (largest remainder: each
 * gets its floor, the leftover hundredths go to the largest remainders, earlier items first on ties).
 * All zero weights give all zeros.
 */
export function largestRemainder(weights: readonly bigint[]): number[] {
  const total = weights.reduce((a, w) => a + w, 0n);
  if (total === 0n) return weights.map(() => 0);
  const floors = weights.map((w) => (w * 10_000n) / total);
  const rems = weights.map((w, i) => ({ i, r: (w * 10_000n) % total }));
  let left = 10_000n - floors.reduce((a, f) => a + f, 0n);
  rems.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of rems) {
    if (left === 0n) break;
    floors[i] += 1n;
    left -= 1n;
  }
  return floors.map((f) => Number(f) / 100);
}

/** Percents of cost, or of calls when the total cost is 0 (unpriced usage), summing to 100. */
export function sharePercents(items: readonly { costNano: bigint; calls: bigint }[]): number[] {
  const byCost = items.some((i) => i.costNano > 0n);
  return largestRemainder(items.map((i) => (byCost ? i.costNano : i.calls)));
}

/** The nano-USD integer of an exact USD string with nine decimals ("1.500000000" -> 1500000000n). */
export function nanoOf(exact: string): bigint {
  return BigInt(exact.replace('.', ''));
}
