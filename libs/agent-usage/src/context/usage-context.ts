import { AsyncLocalStorage } from 'node:async_hooks';
import type { TrackUsageMetadata } from '../capture/track-usage.decorator';

/** Attribution for every record made inside a call chain. */
export interface UsageAttribution {
  userId?: string;
  group?: string;
  chatName?: string;
  agentName?: string;
  /** Category of every record inside (e.g. "image"), unless a record names its own. */
  category?: string;
  metadata?: Record<string, unknown>;
  /** Opens a run with this id for `fn` (an existing run with the same id is kept). */
  runId?: string;
}

/**
 * A run in progress: shared (by reference) by every context of the call chain, so the first record of
 * the run, and of each agent in it, is marked exactly once even under concurrency (JS runs one record
 * at a time; distinct runs never share this object).
 */
export interface UsageRunState {
  readonly id: string;
  /** A record of this run was made (the next ones are not its first). */
  started: boolean;
  /** Agents with a record in this run: one name, then a Set once a second agent appears. */
  agents: string | Set<string> | undefined;
}

export function newRunState(id: string): UsageRunState {
  return { id, started: false, agents: undefined };
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
  /** The run every record of this chain belongs to (opened by the outermost tracked call). */
  run?: UsageRunState;
  /** Agent name taken from a route (`@UsageAgentFromParam`): beats the tracked classes' own names. */
  routeAgentName?: string;
}

/** One store for the process: contexts must cross module instances (e.g. in tests). */
export const usageContextStorage = new AsyncLocalStorage<UsageContextState>();
