/**
 * One model call, normalized. Every driver stores exactly these fields.
 *
 * Token semantics are inclusive, as OpenAI reports them, whatever the provider sent:
 * - `inputTokens` counts every input token, cache reads and cache writes included;
 *   `cachedInputTokens` (cache reads) and `cacheWriteTokens` are parts of it.
 * - `outputTokens` counts every output token, reasoning included; `reasoningTokens` is a part of it.
 * A count the provider did not report is `null` (unknown), never 0.
 */
export interface UsageRecord {
  /** Unique id. A caller-supplied id makes recording idempotent: the same id is stored once. */
  id: string;
  agentName: string | null;
  userId: string | null;
  group: string | null;
  chatName: string | null;
  modelName: string | null;
  providerName: string | null;
  /**
   * What kind of operation this is: "chat" for model calls (the default), or your own name for operations
   * billed per unit (e.g. "image", "scrape"). Records stored before categories existed read back as "chat".
   */
  category: string;
  /** Units of a per-unit operation (images made, pages scraped), priced by `pricing.operations`; null for token calls. */
  units: number | null;
  inputTokens: number | null;
  cachedInputTokens: number | null;
  cacheWriteTokens: number | null;
  outputTokens: number | null;
  reasoningTokens: number | null;
  totalTokens: number | null;
  /** Number of model requests this record stands for (1 for one call). */
  requests: number;
  success: boolean;
  /** The call returned a model response without usage: its counts are unknown, not zero. */
  usageMissing: boolean;
  /**
   * The run this record belongs to: every outermost tracked call (and `runWithContext({ runId })`) opens
   * one, shared by every record made inside it (nested tracked calls, tool calls). Null outside any run.
   */
  runId: string | null;
  /** First record of its run: `runCount` is the number of these (a summable counter, no COUNT DISTINCT). */
  runStart: boolean;
  /**
   * First record of its agent within its run: `agentRunCount` is the number of these; an agent's flat
   * `costPerQuery` is charged on this record only (once per run of that agent).
   */
  agentRunStart: boolean;
  /** Class name of the error a failed call threw (e.g. `RateLimitError`); null when none. */
  errorType: string | null;
  /** Cost in integer nano-USD (1e-9 USD), computed when recorded; `null` when the price is unknown. */
  costNanoUsd: number | null;
  /** Which price was applied (e.g. `table:2026-10-01:gpt-4o`, `override:/^gpt-/`, `agent:support`). */
  priceSource: string | null;
  /** When the call completed (a UTC instant). */
  recordedAt: Date;
  metadata: Record<string, unknown> | null;
}

/** What a caller passes to `UsageService.record()`. Missing attribution is filled from the context. */
export interface UsageRecordInput {
  id?: string;
  agentName?: string | null;
  userId?: string | null;
  group?: string | null;
  chatName?: string | null;
  modelName?: string | null;
  providerName?: string | null;
  /** Default: the context's or `@TrackUsage`'s category, else "chat". */
  category?: string;
  /** An integer 0..2^53-1, or null (the default) for token calls. */
  units?: number | null;
  inputTokens?: number | null;
  cachedInputTokens?: number | null;
  cacheWriteTokens?: number | null;
  outputTokens?: number | null;
  reasoningTokens?: number | null;
  /** Defaults to inputTokens + outputTokens when both are known. */
  totalTokens?: number | null;
  requests?: number;
  success?: boolean;
  usageMissing?: boolean;
  /** Defaults to the current run's id (null outside a run). */
  runId?: string | null;
  /**
   * Normally left out: the recorder marks the run's (and each agent's) first record itself, per process.
   * Give them to decide yourself, e.g. for a run spread over several processes.
   */
  runStart?: boolean;
  agentRunStart?: boolean;
  /** Class name of the error of a failed call; usually set by the recorder with `success: false`. */
  errorType?: string | null;
  /** Pre-computed cost (integer nano-USD). Normally left out: the pricing service computes it. */
  costNanoUsd?: number | null;
  priceSource?: string | null;
  recordedAt?: Date | string | number;
  metadata?: Record<string, unknown> | null;
  /** Route this record to these configured drivers instead of the resolved ones. */
  storage?: string | string[];
}

/** The token fields, in the order drivers and reports list them. */
export const TOKEN_FIELDS = [
  'inputTokens',
  'cachedInputTokens',
  'cacheWriteTokens',
  'outputTokens',
  'reasoningTokens',
  'totalTokens',
] as const;
export type TokenField = (typeof TOKEN_FIELDS)[number];

/**
 * The string fields (or null) that filters and group-bys take: attribution, the run, the error class and
 * the operation category (never null: "chat" by default).
 */
export const ATTRIBUTION_FIELDS = [
  'agentName',
  'userId',
  'group',
  'chatName',
  'modelName',
  'providerName',
  'runId',
  'errorType',
  'category',
] as const;
export type AttributionField = (typeof ATTRIBUTION_FIELDS)[number];

/** The category of a record that does not name one (model calls, and rows stored before categories). */
export const DEFAULT_CATEGORY = 'chat';
