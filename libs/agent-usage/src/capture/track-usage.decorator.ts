import { MAX_ATTRIBUTION_LENGTH, TRACK_USAGE_METADATA } from '../common/usage-tracking.constants';
import { InvalidUsageInputError } from '../common/usage.errors';

export interface TrackUsageOptions {
  /** Track this class/method. Left out: fall back to the next level (class, provider config, global). */
  enabled?: boolean;
  /** Name recorded as `agentName`. Default: the class name. */
  agentName?: string;
  /** AI provider name (e.g. `openai`), used for the provider config and recorded when the response does not tell. */
  provider?: string;
  /** Model recorded when the response does not tell. */
  model?: string;
  /** Configured driver name(s) for this agent's records. */
  storage?: string | string[];
  /** Group recorded when the call's context does not set one. */
  group?: string;
  /** Category of this agent's records (e.g. "image") when the call's context does not set one. Default "chat". */
  category?: string;
}

/** What `@TrackUsage` stores; `enabled` stays undefined when the level does not decide. */
export type TrackUsageMetadata = TrackUsageOptions;

/**
 * Marks an agent class (or one of its methods) for usage tracking.
 * - `@TrackUsage()` tracks; `@TrackUsage(false)` does not;
 * - `@TrackUsage({ agentName, provider, model, storage, group, category, enabled? })` sets attribution, and
 *   tracks only if `enabled` is true or a lower level (provider config, global `trackUsage`) says so.
 * Method metadata beats class metadata, field by field.
 */
export function TrackUsage(options?: boolean | TrackUsageOptions): ClassDecorator & MethodDecorator {
  const meta: TrackUsageMetadata =
    options === undefined ? { enabled: true } : typeof options === 'boolean' ? { enabled: options } : { ...options };
  // Checked when the class is defined: a bad category would otherwise fail every capture of the agent.
  const category: unknown = meta.category;
  if (category !== undefined && (typeof category !== 'string' || category.length === 0 || category.length > MAX_ATTRIBUTION_LENGTH)) {
    throw new InvalidUsageInputError('TrackUsage.category', `a string of 1 to ${MAX_ATTRIBUTION_LENGTH} characters`, category);
  }
  const decorator = (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor): void => {
    Reflect.defineMetadata(TRACK_USAGE_METADATA, meta, descriptor ? descriptor.value : target);
  };
  return decorator as ClassDecorator & MethodDecorator;
}
