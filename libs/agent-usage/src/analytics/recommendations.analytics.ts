import type { AnalyticsContext } from './analytics.context';
import type { UsageRangeQuery, UsageRecommendations } from './analytics.interfaces';

export async function getRecommendations(ctx: AnalyticsContext, query: UsageRangeQuery): Promise<UsageRecommendations> {
  void ctx;
  void query;
  throw new Error('not yet');
}
