/**
 * A month's invoice in the module's time zone: one line per category, the "chat" category split per model
 * (tokens), other categories billed per unit; a volume discount from `analytics.invoice.discountTiers`.
 * Every amount is an exact nano-USD sum; the discount is rounded half-up to the nano-USD once.
 */
import { InvalidUsageInputError } from '../common/usage.errors';
import type { UsageFilters } from '../interfaces/usage-query.interface';
import { scaleDecimal } from '../pricing/pricing-decimal.util';
import type { AnalyticsContext } from './analytics.context';
import type { UsageInvoice, UsageInvoiceLine, UsageInvoiceQuery } from './analytics.interfaces';
import { divRound, money } from './analytics-money';
import { attributionFilters } from './usage-range.resolver';
import { byCostDesc, costOf } from './summary.analytics';

/** The category of model calls (the record default). */
export const CHAT_CATEGORY = 'chat';


function line(category: string, description: string, usage: bigint, unit: UsageInvoiceLine['unit'], cost: bigint): UsageInvoiceLine {
  const c = money(cost);
  return { category, description, usage: Number(usage), unit, cost: c.usd, costExact: c.exact };
}

/** The discount percent (hundredths) of the highest tier the subtotal is strictly above; 0n without one. */
export function discountHundredths(ctx: AnalyticsContext, subtotalNano: bigint): { hundredths: bigint; percent: number } {
  let best: { above: bigint; hundredths: bigint; percent: number } | null = null;
  for (const t of ctx.options.invoice?.discountTiers ?? []) {
    const above = scaleDecimal(t.aboveUsd, 9);
    if (subtotalNano > above && (!best || above > best.above)) best = { above, hundredths: scaleDecimal(t.percent, 2), percent: t.percent };
  }
  return best ? { hundredths: best.hundredths, percent: best.percent } : { hundredths: 0n, percent: 0 };
}

export async function getInvoice(ctx: AnalyticsContext, query: UsageInvoiceQuery): Promise<UsageInvoice> {
  const attribution = attributionFilters(query ?? {}, [], ctx.timeZone, ['month']);
  const month = (query as UsageInvoiceQuery | undefined)?.month;
  const m = typeof month === 'string' ? /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month) : null;
  if (!m) throw new InvalidUsageInputError('month', 'a month as "YYYY-MM"', month);
  const periodStart = `${month}-01`;
  // Day 0 of the next month is the last day of this one.
  const periodEnd = new Date(Date.UTC(+m[1], +m[2], 0)).toISOString().slice(0, 10);
  const filters: UsageFilters = { ...attribution, dateFrom: periodStart, dateTo: periodEnd };
  const lineItems: UsageInvoiceLine[] = [];
  let subtotal = 0n;
  for (const g of (await ctx.groupBy('category', filters)).sort(byCostDesc)) {
    const category = g.key ?? CHAT_CATEGORY;
    subtotal += costOf(g);
    if (category !== CHAT_CATEGORY) {
      lineItems.push(line(category, `Operations: ${category}`, BigInt(g.exact.units), 'units', costOf(g)));
      continue;
    }
    const models = (await ctx.groupBy('modelName', { ...filters, category: CHAT_CATEGORY })).sort(byCostDesc);
    for (const mg of models) lineItems.push(line(category, `Chat: ${mg.key ?? 'unknown model'}`, BigInt(mg.exact.totalTokens), 'tokens', costOf(mg)));
  }
  const tier = discountHundredths(ctx, subtotal);
  const discount = divRound(subtotal * tier.hundredths, 10_000n);
  const [s, d, t] = [money(subtotal), money(discount), money(subtotal - discount)];
  return {
    periodStart,
    periodEnd,
    timeZone: ctx.timeZone,
    currency: 'USD',
    lineItems,
    subtotal: s.usd,
    subtotalExact: s.exact,
    discountPercent: tier.percent,
    discount: d.usd,
    discountExact: d.exact,
    total: t.usd,
    totalExact: t.exact,
  };
}
