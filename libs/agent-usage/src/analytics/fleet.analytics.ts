import type { AnalyticsContext } from './analytics.context';
import type { UsageRangeQuery, UsageFleet } from './analytics.interfaces';

export async function getFleet(ctx: AnalyticsContext, query: UsageRangeQuery): Promise<UsageFleet> {
  void ctx;
  void query;
  throw new Error('not yet');
}
