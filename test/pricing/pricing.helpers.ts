import { normalizeResponse, UsagePricingService } from 'nestjs-agent-usage';
import type { PricingOptions, UsageRecord } from 'nestjs-agent-usage';
import { createUsageRecord } from 'nestjs-agent-usage/record/usage-record.factory';

/** A pricing service outside Nest; `registered` tells whether the recorder will price records with it. */
export function pricingService(pricing: PricingOptions = {}): { service: UsagePricingService; registered: boolean } {
  const service = new UsagePricingService({ pricing });
  return { service, registered: service.enabled };
}

/** The record a tracked call would make from `response` (normalized exactly as capture does). */
export function recordOf(response: unknown, extra: Partial<Parameters<typeof createUsageRecord>[0]> = {}): UsageRecord {
  const usage = normalizeResponse(response);
  if (!usage) throw new Error('not a model response');
  return createUsageRecord({ ...usage, recordedAt: '2026-11-01T12:00:00Z', ...extra });
}
