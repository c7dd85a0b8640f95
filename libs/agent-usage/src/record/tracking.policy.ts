import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import type { TrackedCallFrame, UsageContextState } from '../context/usage-context';

/** A level that may name the drivers of its records: a method's or class's `@TrackUsage`, or a provider config. */
export interface StorageLevel {
  storage?: unknown;
}

/**
 * "Track? Where?" for one record made inside a tracked call: `false` (not tracked), `true` (tracked, to the
 * default drivers) or the level whose `storage` names the drivers.
 */
export type TrackingDecision = boolean | StorageLevel;

/** Agent name of a frame: a route's agent, then method, then class decorator, then the class name. */
export function agentNameOf(frame: TrackedCallFrame, ctx?: UsageContextState): string {
  return ctx?.routeAgentName ?? frame.methodMeta?.agentName ?? frame.classMeta?.agentName ?? frame.className;
}

/**
 * The tracking policy, in one place. Track or not: runtime override (`withTracking`) > the agent's
 * `shouldTrackUsage()` > method > class > provider config > global config (off by default). Where: the
 * first of method, class, provider config that names a storage, else the default drivers.
 */
export function decideTracking(
  frame: TrackedCallFrame,
  ctx: UsageContextState | undefined,
  providerName: string | null,
  modelName: string | null,
  options: Pick<UsageTrackingModuleOptions, 'providers' | 'trackUsage'>,
): TrackingDecision {
  const m = frame.methodMeta;
  const c = frame.classMeta;
  const p = providerName ? options.providers?.[providerName] : undefined;
  let enabled = m?.enabled ?? c?.enabled ?? p?.trackUsage ?? options.trackUsage ?? false;
  const hook = (frame.instance as { shouldTrackUsage?: unknown }).shouldTrackUsage;
  if (typeof hook === 'function') {
    const decided = hook.call(frame.instance, {
      agentName: agentNameOf(frame, ctx),
      method: frame.method,
      args: frame.args,
      providerName,
      modelName,
      resolved: enabled,
    });
    if (typeof decided === 'boolean') enabled = decided;
  }
  if (ctx?.trackingOverride !== undefined) enabled = ctx.trackingOverride;
  if (!enabled) return false;
  return m?.storage !== undefined ? m : c?.storage !== undefined ? c : p?.storage !== undefined ? p : true;
}
