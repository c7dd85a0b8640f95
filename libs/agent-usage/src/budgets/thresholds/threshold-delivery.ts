import type { ModuleRef } from '@nestjs/core';
import { loadOptional } from '../../common/optional-packages';
import { USAGE_THRESHOLD_HANDLER } from '../budget.constants';
import type { UsageThresholdEvent, UsageThresholdHandler } from '../budget-options.interface';
import type { UsageSchedulerOptions } from './scheduler-options.interface';

export interface EventEmitterLike {
  emit(event: string, payload: unknown): boolean;
}

/**
 * Where crossed thresholds go besides logs and webhooks: the host's EventEmitter2 (when
 * @nestjs/event-emitter is installed and imported) and a handler: `scheduler.onThreshold` (a provider
 * class, an instance or a function), else a `USAGE_THRESHOLD_HANDLER` provider.
 */
export async function resolveThresholdDelivery(
  moduleRef: ModuleRef,
  spec: UsageSchedulerOptions['onThreshold'],
): Promise<{ emitter: EventEmitterLike | null; handler: ((e: UsageThresholdEvent) => void | Promise<void>) | null }> {
  let emitter: EventEmitterLike | null = null;
  const ee = loadOptional<{ EventEmitter2: new () => EventEmitterLike }>('@nestjs/event-emitter');
  if (ee) {
    try {
      emitter = moduleRef.get(ee.EventEmitter2 as any, { strict: false }) as EventEmitterLike;
    } catch {
      /* EventEmitterModule not imported by the host: no Nest event */
    }
  }
  let h: unknown = undefined;
  if (spec !== undefined) {
    if (typeof spec === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(spec))) {
      try {
        h = moduleRef.get(spec as any, { strict: false });
      } catch {
        // Not a host provider: built in this module's context, so it can only inject global providers.
        try {
          h = await moduleRef.create(spec as any);
        } catch (e) {
          throw new Error(`scheduler.onThreshold: ${(spec as { name: string }).name} is not a provider of the app and cannot be built here (${(e as Error).message.split('\n')[0]}); add it to your module's providers`);
        }
      }
    } else h = spec;
  } else {
    try {
      h = moduleRef.get(USAGE_THRESHOLD_HANDLER, { strict: false });
    } catch {
      /* no handler provider */
    }
  }
  if (typeof h === 'function') return { emitter, handler: h as (e: UsageThresholdEvent) => void };
  if (h && typeof (h as UsageThresholdHandler).handle === 'function') return { emitter, handler: (e) => (h as UsageThresholdHandler).handle(e) };
  return { emitter, handler: null };
}
