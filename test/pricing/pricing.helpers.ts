import { normalizeResponse, UsagePricingService } from 'nestjs-agent-usage';
import type { PricingOptions, UsageRecord } from 'nestjs-agent-usage';
import { createUsageRecord } from 'nestjs-agent-usage/record/usage-record.factory';
import type { UsageRecorder } from 'nestjs-agent-usage/record/usage.recorder';

/** A pricing service outside Nest; `registered` tells whether it offered itself to the recorder. */
export function pricingService(pricing: PricingOptions = {}): { service: UsagePricingService; registered: boolean } {
  let registered = false;
  const recorder = { setPricer: () => (registered = true) } as unknown as UsageRecorder;
  const service = new UsagePricingService({ pricing }, recorder);
  return { service, registered };
}

/** The record a tracked call would make from `response` (normalized exactly as capture does). */
export function recordOf(response: unknown, extra: Partial<Parameters<typeof createUsageRecord>[0]> = {}): UsageRecord {
  const usage = normalizeResponse(response);
  if (!usage) throw new Error('not a model response');
  return createUsageRecord({ ...usage, recordedAt: '2026-11-01T12:00:00Z', ...extra });
}
