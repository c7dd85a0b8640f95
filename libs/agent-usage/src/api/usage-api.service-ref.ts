import { Injectable, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { UsageTrackingError } from '../common/usage.errors';
import { UsageService } from '../usage.service';

/** What the controllers use of UsageService (and nothing else of the library). */
export type UsageApiService = Pick<
  UsageService,
  | 'getUsageSummary'
  | 'getUsageBreakdown'
  | 'getUsageAnalytics'
  | 'getFleet'
  | 'getSpendLogs'
  | 'exportUsage'
  | 'getInvoice'
  | 'getRecommendations'
  | 'createAlert'
  | 'listAlerts'
  | 'deleteAlert'
>;

/**
 * The host's UsageService, found wherever UsageTrackingModule was imported (global or not), once every
 * provider exists: a host does not have to make the tracking module global for the API to reach it.
 */
@Injectable()
export class UsageApiServiceRef implements OnModuleInit {
  private resolved: UsageApiService | null = null;

  constructor(private readonly moduleRef: ModuleRef) {}

  onModuleInit(): void {
    try {
      this.resolved = this.moduleRef.get(UsageService, { strict: false });
    } catch {
      throw new UsageTrackingError('UsageApiModule needs UsageTrackingModule: import UsageTrackingModule.forRoot(...) in the same app');
    }
  }

  get service(): UsageApiService {
    return this.resolved!;
  }
}
