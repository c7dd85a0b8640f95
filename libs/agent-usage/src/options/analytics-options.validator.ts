import { describe } from '../common/usage.errors';
import { decimalProblem, scaleDecimal } from '../pricing/pricing-decimal.util';
import type { DecimalInput } from '../pricing/pricing-options.interface';

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function unknownKeys(v: Record<string, unknown>, allowed: string[], at: string): string[] {
  return Object.keys(v)
    .filter((k) => !allowed.includes(k))
    .map((k) => `${at}${k} is not an option; allowed: ${allowed.join(', ')}`);
}

/**
 * Problems of `analytics` (`{ invoice?: { discountTiers?: [{ aboveUsd, percent }] } }`), each naming its
 * path: `aboveUsd` a USD decimal (up to 9 decimals, distinct), `percent` 0-100 with at most 2 decimals.
 */
export function analyticsOptionProblems(value: unknown): string[] {
  if (!isObject(value)) return [`must be an object ({ invoice? }); got ${describe(value)}`];
  const problems = unknownKeys(value, ['invoice'], '');
  const invoice = value.invoice;
  if (invoice === undefined) return problems;
  if (!isObject(invoice)) return [...problems, `invoice must be an object ({ discountTiers? }); got ${describe(invoice)}`];
  problems.push(...unknownKeys(invoice, ['discountTiers'], 'invoice.'));
  const tiers = invoice.discountTiers;
  if (tiers === undefined) return problems;
  if (!Array.isArray(tiers)) return [...problems, `invoice.discountTiers must be an array of { aboveUsd, percent }; got ${describe(tiers)}`];
  const seen = new Set<string>();
  tiers.forEach((t: unknown, i) => {
    const at = `invoice.discountTiers[${i}]`;
    if (!isObject(t)) return problems.push(`${at} must be an object { aboveUsd, percent }; got ${describe(t)}`);
    problems.push(...unknownKeys(t, ['aboveUsd', 'percent'], `${at}.`));
    const above = decimalProblem(t.aboveUsd, 9);
    if (above) problems.push(`${at}.aboveUsd must be a USD amount (a decimal with up to 9 decimals): ${above}`);
    else {
      const key = scaleDecimal(t.aboveUsd as DecimalInput, 9).toString();
      if (seen.has(key)) problems.push(`${at}.aboveUsd repeats ${String(t.aboveUsd)}; each tier needs its own threshold`);
      seen.add(key);
    }
    const p = t.percent;
    if (typeof p !== 'number' || p > 100 || decimalProblem(p, 2) !== null) {
      problems.push(`${at}.percent must be a number from 0 to 100 with at most 2 decimals; got ${describe(p)}`);
    }
  });
  return problems;
}
