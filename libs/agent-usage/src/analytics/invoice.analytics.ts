import type { AnalyticsContext } from './analytics.context';
import type { UsageInvoiceQuery, UsageInvoice } from './analytics.interfaces';

export async function getInvoice(ctx: AnalyticsContext, query: UsageInvoiceQuery): Promise<UsageInvoice> {
  void ctx;
  void query;
  throw new Error('not yet');
}
