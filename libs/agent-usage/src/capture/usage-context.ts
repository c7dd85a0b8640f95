import { AsyncLocalStorage } from 'node:async_hooks';
import type { TrackUsageMetadata } from '../decorators/track-usage.decorator';

/** Attribution for every record made inside a call chain. */
export interface UsageAttribution {
  userId?: string;
  group?: string;
  chatName?: string;
  agentName?: string;
  metadata?: Record<string, unknown>;
}

/** What `shouldTrackUsage` receives, once per record. */
export interface TrackUsageCall {
  agentName: string;
  method: string;
  args: unknown[];
  providerName: string | null;
  modelName: string | null;
  /** What the decorators and config resolved to, before this hook. */
  resolved: boolean;
}

/** Implement on an agent class to decide per call; return undefined to keep the resolved value. */
export interface ShouldTrackUsage {
  shouldTrackUsage(call: TrackUsageCall): boolean | undefined;
}

/** The innermost @TrackUsage call of the chain. */
export interface TrackedCallFrame {
  instance: object;
  className: string;
  method: string;
  args: unknown[];
  classMeta: TrackUsageMetadata | undefined;
  methodMeta: TrackUsageMetadata | undefined;
  /** The tracked call this one runs inside, if any (set when the call starts). */
  parent?: TrackedCallFrame;
}

export interface UsageContextState extends UsageAttribution {
  /** `withTracking(enabled, fn)`: beats every other level for this chain. */
  trackingOverride?: boolean;
  frame?: TrackedCallFrame;
  /** Set by a hard budget when it admits the outermost tracked call; nested calls ride on it. */
  budgetReservation?: unknown;
}

/** One store for the process: contexts must cross module instances (e.g. in tests). */
export const usageContextStorage = new AsyncLocalStorage<UsageContextState>();
