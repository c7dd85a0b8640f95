import { Inject, Injectable, Logger } from '@nestjs/common';
import type { UsageRecord, UsageRecordInput } from '../interfaces/usage-record.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { UsageStorageRegistry, storageNamesOf } from '../storage/usage-storage.registry';
import { TrackedCallFrame, UsageContextState, UsageRunState, newRunState, usageContextStorage } from '../context/usage-context';
import { normalizeResponses } from '../normalize/normalize-responses';
import type { NormalizedUsage } from '../normalize/normalize-usage';
import { type UsageRecordFill, assertRecordInput, createUsageRecord } from './usage-record.factory';
import { newUsageId } from './usage-id';
import { InvalidUsageInputError } from '../common/usage.errors';
import { recordedResponses } from './recorded-responses';
import { agentNameOf, decideTracking } from './tracking.policy';
import { UsagePricingService } from '../pricing/pricing.service';
import { UsageBudgetService } from '../budgets/budget.service';
import { UsageTelemetryExporter } from '../telemetry/usage-telemetry.exporter';

/** Prices a record as it is made (see pricing/). Must be synchronous and cheap: it runs on the call path. */
export interface UsageRecordPricer {
  price(record: UsageRecord): { costNanoUsd: number | null; priceSource: string | null };
}

/** Called with every record after it was handed to the drivers (budgets keep live counters this way). */
export type UsageRecordListener = (record: UsageRecord) => void;

export interface UsageRecorderStats {
  /** Records handed to the drivers. */
  recorded: number;
  /** Records not made because tracking resolved to off. */
  skipped: number;
  /** Automatic captures that failed (logged; the agent's call went on). */
  captureErrors: number;
  /** Listener errors (logged; the record was kept). */
  listenerErrors: number;
}

/** Run ids the host named that this process remembers (their first records are already marked). */
const MAX_NAMED_RUNS = 10_000;

/**
 * Marks the run's first record, and its agent's first record in the run (see UsageRecord). With `given`
 * the record's marks came from the input: they only tell the run what has started already.
 */
function markRun(record: UsageRecord, run: UsageRunState, given: boolean): void {
  if (given ? record.runStart : !run.started) {
    run.started = true;
    record.runStart = true;
  }
  if (given && !record.agentRunStart) return;
  const agent = record.agentName ?? '';
  const seen = run.agents;
  if (seen === undefined) run.agents = agent;
  else if (typeof seen === 'string') {
    if (seen === agent) return;
    run.agents = new Set([seen, agent]);
  } else if (!seen.has(agent)) seen.add(agent);
  else return;
  record.agentRunStart = true;
}

/**
 * Turns inputs and responses into records: attribution from the call chain, the tracking policy, the record
 * factory (validation), the price, then the drivers (through the registry's buffered writers), budgets'
 * counters and telemetry. Everything here is synchronous and allocation-light: it runs inside the agent's call.
 */
@Injectable()
export class UsageRecorder {
  readonly logger = new Logger('UsageTracking');
  private pricer: UsageRecordPricer | null = null;
  private readonly listeners: UsageRecordListener[] = [];
  /** Runs named by the host, by id (see `namedRun`). */
  private readonly namedRuns = new Map<string, UsageRunState>();
  /** Driver names per decorator / provider-config object that names a storage. */
  private readonly targetsByLevel = new WeakMap<object, string[]>();
  readonly stats: UsageRecorderStats = { recorded: 0, skipped: 0, captureErrors: 0, listenerErrors: 0 };
  /**
   * The attribution handed to the factory, refilled per record instead of allocated: the factory reads it
   * synchronously and keeps none of it (only `metadata`'s value, which is the context's own object).
   */
  private readonly fill: Required<UsageRecordFill> = {
    agentName: null,
    userId: null,
    group: null,
    chatName: null,
    providerName: null,
    modelName: null,
    metadata: null,
    category: null,
    runId: null,
  };

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly options: UsageTrackingModuleOptions,
    private readonly registry: UsageStorageRegistry,
    pricing: UsagePricingService,
    budgets: UsageBudgetService,
    telemetry: UsageTelemetryExporter,
  ) {
    // After a record is made: price it, hand it to the drivers (registry), then budgets' live counters and
    // telemetry. Each step is on only when configured: an app without it pays nothing for it.
    if (pricing.enabled) this.pricer = pricing;
    if (budgets.watchesRecords) this.listeners.push((r) => budgets.onRecord(r));
    if (telemetry.enabled) this.listeners.push((r) => telemetry.export(r));
  }

  /**
   * The state of a run the host names (`runWithContext({ runId })`, `record({ runId })`): one per id, so a
   * run reopened later (the next request of a conversation) is not started again. Bounded: past
   * MAX_NAMED_RUNS the oldest ids are forgotten (a forgotten run that comes back is counted again).
   */
  namedRun(id: string): UsageRunState {
    let run = this.namedRuns.get(id);
    if (!run) {
      if (this.namedRuns.size >= MAX_NAMED_RUNS) this.namedRuns.delete(this.namedRuns.keys().next().value as string);
      this.namedRuns.set(id, (run = newRunState(id)));
    }
    return run;
  }

  /** Driver names of a record inside a tracked call (see the tracking policy), or null when it is not tracked. */
  private targetsOf(frame: TrackedCallFrame, ctx: UsageContextState | undefined, providerName: string | null, modelName: string | null): readonly string[] | null {
    const decision = decideTracking(frame, ctx, providerName, modelName, this.options);
    if (decision === false) return null;
    if (decision === true) return this.registry.defaultTargets;
    // The level's driver names are computed once, not per record.
    let names = this.targetsByLevel.get(decision);
    if (!names) this.targetsByLevel.set(decision, (names = storageNamesOf(decision.storage as string | string[])));
    return names;
  }

  /**
   * Makes one record from `input`, filling attribution from the call chain. Returns null when tracking
   * resolved to off. Throws `InvalidUsageInputError` for bad input (nothing is stored then).
   */
  record(input: UsageRecordInput, detectedProvider: string | null = null, ownRun?: UsageRunState): UsageRecord | null {
    return this.make(input, null, detectedProvider, ownRun, usageContextStorage.getStore());
  }

  /**
   * `usage`: the counts of one model request found in a response (see `createUsageRecord`); `ctx`: the
   * current context, looked up once by the caller.
   */
  private make(
    input: UsageRecordInput,
    usage: NormalizedUsage | null,
    detectedProvider: string | null,
    ownRun: UsageRunState | undefined,
    ctx: UsageContextState | undefined,
  ): UsageRecord | null {
    // Before any field is read: record(null) is a usage error, not a TypeError. Keys are checked in the factory.
    if (input === null || typeof input !== 'object') assertRecordInput(input);
    const frame = ctx?.frame;
    // A declared provider beats the one guessed from the response shape: many providers (Azure, Groq,
    // gateways) answer in OpenAI's shape.
    const providerName =
      input.providerName ??
      frame?.methodMeta?.provider ??
      frame?.classMeta?.provider ??
      detectedProvider ??
      this.options.defaultProvider ??
      null;
    const modelName = input.modelName ?? usage?.modelName ?? frame?.methodMeta?.model ?? frame?.classMeta?.model ?? null;
    // Outside any tracked call an explicit record is kept unless a runtime override says no.
    let targets: readonly string[] | null = frame
      ? this.targetsOf(frame, ctx, providerName, modelName)
      : ctx?.trackingOverride === false
        ? null
        : this.registry.defaultTargets;
    if (targets && input.storage !== undefined) targets = storageNamesOf(input.storage);
    if (!targets) {
      this.stats.skipped++;
      return null;
    }
    const run = ctx?.run ?? ownRun;
    const fill = this.fill;
    fill.agentName = (frame ? agentNameOf(frame, ctx) : (ctx?.routeAgentName ?? ctx?.agentName)) ?? null;
    fill.userId = ctx?.userId ?? null;
    fill.group = ctx?.group ?? frame?.methodMeta?.group ?? frame?.classMeta?.group ?? null;
    fill.chatName = ctx?.chatName ?? null;
    fill.providerName = providerName;
    fill.modelName = modelName;
    fill.metadata = ctx?.metadata ?? null;
    fill.category = ctx?.category ?? frame?.methodMeta?.category ?? frame?.classMeta?.category ?? null;
    fill.runId = run?.id ?? null;
    let record: UsageRecord;
    try {
      record = createUsageRecord(input, fill, usage ?? undefined);
    } finally {
      fill.metadata = null; // not kept alive by the recorder between records
    }
    // Marks are set only on a record that is really made (a rejected input must not use up the run's start);
    // marks given in the input win (a response's counts carry none).
    if (record.runId !== null) {
      const given = usage === null && (input.runStart !== undefined || input.agentRunStart !== undefined);
      markRun(record, record.runId === run?.id ? run : this.namedRun(record.runId), given);
    }
    if (this.pricer && input.costNanoUsd === undefined) {
      const price = this.pricer.price(record);
      record.costNanoUsd = price.costNanoUsd;
      record.priceSource = price.priceSource;
      if (price.costNanoUsd !== null && !Number.isSafeInteger(price.costNanoUsd)) {
        // Huge counts times a price: no store can keep that cost exactly.
        throw new InvalidUsageInputError('inputTokens/outputTokens', 'counts whose priced cost is at most 2^53-1 nano-USD', price.costNanoUsd);
      }
    }
    this.registry.dispatch(record, targets);
    this.stats.recorded++;
    for (const l of this.listeners) {
      try {
        l(record);
      } catch (err) {
        this.stats.listenerErrors++;
        this.logger.error(`usage record listener failed: ${(err as Error).message}`, (err as Error).stack);
      }
    }
    return record;
  }

  /** Records every model call found in `response` (one per call). Non-responses record nothing. */
  recordResponse(response: unknown, extra: UsageRecordInput = {}): UsageRecord[] {
    assertRecordInput(extra, 'extra');
    // Inside a tracked method the same object may come back as its result: remember it.
    return this.recordResponseOnce(response, extra, usageContextStorage.getStore()?.frame !== undefined);
  }

  /**
   * `remember`: the response may reach another tracked method of the chain (nested calls), so it is
   * marked as recorded. Top-level results are not marked: a WeakSet entry per call costs the GC.
   */
  recordResponseOnce(response: unknown, extra: UsageRecordInput, remember: boolean, ctx = usageContextStorage.getStore()): UsageRecord[] {
    if (typeof response !== 'object' || response === null) return [];
    if (recordedResponses.has(response)) return [];
    const usages = normalizeResponses(response);
    if (usages.length === 0) return [];
    if (remember) recordedResponses.add(response);
    return this.recordUsages(usages, extra, ctx);
  }

  /** One record per normalized model request. */
  recordUsages(usages: readonly NormalizedUsage[], extra: UsageRecordInput, ctx = usageContextStorage.getStore()): UsageRecord[] {
    // Outside any run, one response (e.g. an Agents SDK run result with several requests) is one run.
    const ownRun = ctx?.run ? undefined : newRunState(newUsageId());
    // A model call is "chat" unless the caller, the context or @TrackUsage names another category. The
    // counts come from each request; everything else from `extra` (its own counts and marks are ignored).
    const out: UsageRecord[] = [];
    for (const u of usages) {
      const r = this.make(extra, u, u.providerName, ownRun, ctx);
      if (r) out.push(r);
    }
    return out;
  }
}
