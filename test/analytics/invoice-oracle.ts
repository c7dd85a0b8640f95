/** The invoice oracle: lines per category (chat per model) and the discount of the highest tier passed. */
import { DateTime } from 'luxon';
import { groups, halfUp, inDays, usd, type Rec } from './analytics-dataset';

export const DISCOUNT_TIERS = [
  { aboveUsd: '0.2', percent: 7.5 },
  { aboveUsd: '0.10', percent: 5 },
];

const nano = (text: string) => {
  const [w, f = ''] = text.split('.');
  return BigInt(w) * 1_000_000_000n + BigInt(f.padEnd(9, '0'));
};
const money = (n: bigint) => ({ n: Number(usd(n)), s: usd(n) });

export function invoiceOracle(data: Rec[], month: string) {
  const first = DateTime.fromISO(`${month}-01`, { zone: 'UTC' });
  const [periodStart, periodEnd] = [first.toISODate()!, first.endOf('month').toISODate()!];
  const rs = inDays(data, periodStart, periodEnd);
  const lineItems: { category: string; description: string; usage: number; unit: string; cost: number; costExact: string }[] = [];
  for (const c of groups(rs, (x) => x.category)) {
    const of = rs.filter((x) => x.category === c.key);
    if (c.key !== 'chat') {
      const units = of.reduce((a, x) => a + (x.units ?? 0), 0);
      lineItems.push({ category: c.key!, description: `Operations: ${c.key}`, usage: units, unit: 'units', cost: money(c.s.cost).n, costExact: money(c.s.cost).s });
      continue;
    }
    for (const m of groups(of, (x) => x.modelName)) {
      lineItems.push({ category: 'chat', description: `Chat: ${m.key ?? 'unknown model'}`, usage: Number(m.s.tokens), unit: 'tokens', cost: money(m.s.cost).n, costExact: money(m.s.cost).s });
    }
  }
  const subtotal = rs.reduce((a, x) => a + BigInt(x.costNanoUsd ?? 0), 0n);
  const tier = DISCOUNT_TIERS.filter((t) => subtotal > nano(t.aboveUsd)).sort((a, b) => (nano(a.aboveUsd) > nano(b.aboveUsd) ? -1 : 1))[0];
  const hundredths = BigInt(Math.round((tier?.percent ?? 0) * 100));
  const discount = halfUp(subtotal * hundredths, 10000n);
  return {
    periodStart,
    periodEnd,
    timeZone: 'America/New_York',
    currency: 'USD',
    lineItems,
    subtotal: money(subtotal).n,
    subtotalExact: money(subtotal).s,
    discountPercent: tier?.percent ?? 0,
    discount: money(discount).n,
    discountExact: money(discount).s,
    total: money(subtotal - discount).n,
    totalExact: money(subtotal - discount).s,
  };
}
