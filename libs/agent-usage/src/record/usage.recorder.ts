import { Inject, Injectable, Logger } from '@nestjs/common';
import type { UsageRecord, UsageRecordInput } from '../interfaces/usage-record.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../usage-tracking.constants';
import { UsageStorageRegistry, storageNamesOf } from '../storage/usage-storage.registry';
import { TrackedCallFrame, UsageContextState, usageContextStorage } from '../capture/usage-context';
import { normalizeResponses } from '../normalize/normalize-usage';
import { StreamUsageCollector } from '../normalize/stream-usage';
import { assertRecordInput, createUsageRecord } from './usage-record.factory';
import { InvalidUsageInputError } from '../usage.errors';

/** Prices a record as it is made (see pricing/). Must be synchronous and cheap: it runs on the call path. */
export interface UsageRecordPricer {
  price(record: UsageRecord): { costNanoUsd: number | null; priceSource: string | null };
}

/** Called with every record after it was handed to the drivers (budgets keep live counters this way). */
export type UsageRecordListener = (record: UsageRecord) => void;

/** What a call guard (e.g. a hard budget) sees before a tracked method runs. */
export interface UsageCallInfo {
  frame: TrackedCallFrame;
  agentName: string;
  providerName: string | null;
  modelName: string | null;
  userId: string | null;
  group: string | null;
  chatName: string | null;
}
/** Throws to refuse the call; may return a promise (e.g. an atomic check in Redis). */
export type UsageCallGuard = (call: UsageCallInfo) => void | Promise<void>;

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

/** Responses already recorded: a response returned through several tracked methods counts once. */
const recordedResponses = new WeakSet<object>();

/**
 * Turns calls and inputs into records and hands them to the drivers. Everything here is synchronous
 * and allocation-light: it runs inside the agent's call.
 */
@Injectable()
export class UsageRecorder {
  readonly logger = new Logger('UsageTracking');
  private pricer: UsageRecordPricer | null = null;
  private readonly listeners: UsageRecordListener[] = [];
  private readonly guards: UsageCallGuard[] = [];
  /** Driver names per decorator / provider-config object that names a storage. */
  private readonly targetsByLevel = new WeakMap<object, string[]>();
  readonly stats: UsageRecorderStats = { recorded: 0, skipped: 0, captureErrors: 0, listenerErrors: 0 };

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly options: UsageTrackingModuleOptions,
    private readonly registry: UsageStorageRegistry,
  ) {}

  setPricer(pricer: UsageRecordPricer | null): void {
    this.pricer = pricer;
  }
  addListener(listener: UsageRecordListener): void {
    this.listeners.push(listener);
  }
  addCallGuard(guard: UsageCallGuard): void {
    this.guards.push(guard);
  }

  /** Agent name of a frame: method, then class decorator, then the class name. */
  private agentNameOf(frame: TrackedCallFrame): string {
    return frame.methodMeta?.agentName ?? frame.classMeta?.agentName ?? frame.className;
  }

  /**
   * Track or not, and where: runtime override > shouldTrackUsage() > method > class > provider config >
   * global config (off by default). Returns the driver names, or null when not tracked.
   */
  resolve(frame: TrackedCallFrame, ctx: UsageContextState | undefined, providerName: string | null, modelName: string | null): string[] | null {
    const m = frame.methodMeta;
    const c = frame.classMeta;
    const p = providerName ? this.options.providers?.[providerName] : undefined;
    let enabled = m?.enabled ?? c?.enabled ?? p?.trackUsage ?? this.options.trackUsage ?? false;
    const hook = (frame.instance as { shouldTrackUsage?: unknown }).shouldTrackUsage;
    if (typeof hook === 'function') {
      const decided = hook.call(frame.instance, {
        agentName: this.agentNameOf(frame),
        method: frame.method,
        args: frame.args,
        providerName,
        modelName,
        resolved: enabled,
      });
      if (typeof decided === 'boolean') enabled = decided;
    }
    if (ctx?.trackingOverride !== undefined) enabled = ctx.trackingOverride;
    if (!enabled) return null;
    // The level that names the storage; its resolved driver names are computed once, not per record.
    const level = m?.storage !== undefined ? m : c?.storage !== undefined ? c : p?.storage !== undefined ? p : undefined;
    if (!level) return this.registry.defaultTargets;
    let names = this.targetsByLevel.get(level);
    if (!names) this.targetsByLevel.set(level, (names = storageNamesOf(level.storage as string | string[])));
    return names;
  }

  /**
   * Makes one record from `input`, filling attribution from the call chain. Returns null when tracking
   * resolved to off. Throws `InvalidUsageInputError` for bad input (nothing is stored then).
   */
  record(input: UsageRecordInput, detectedProvider: string | null = null): UsageRecord | null {
    // Before any field is read: record(null) is a usage error, not a TypeError. Keys are checked in the factory.
    if (input === null || typeof input !== 'object') assertRecordInput(input);
    const ctx = usageContextStorage.getStore();
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
    const modelName = input.modelName ?? frame?.methodMeta?.model ?? frame?.classMeta?.model ?? null;
    // Outside any tracked call an explicit record is kept unless a runtime override says no.
    let targets: readonly string[] | null = frame
      ? this.resolve(frame, ctx, providerName, modelName)
      : ctx?.trackingOverride === false
        ? null
        : this.registry.defaultTargets;
    if (targets && input.storage !== undefined) targets = storageNamesOf(input.storage);
    if (!targets) {
      this.stats.skipped++;
      return null;
    }
    const record = createUsageRecord(input, {
      agentName: (frame ? this.agentNameOf(frame) : ctx?.agentName) ?? null,
      userId: ctx?.userId ?? null,
      group: ctx?.group ?? frame?.methodMeta?.group ?? frame?.classMeta?.group ?? null,
      chatName: ctx?.chatName ?? null,
      providerName,
      modelName,
      metadata: ctx?.metadata ?? null,
    });
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
  private recordResponseOnce(response: unknown, extra: UsageRecordInput, remember: boolean): UsageRecord[] {
    if (typeof response !== 'object' || response === null) return [];
    if (recordedResponses.has(response)) return [];
    const usages = normalizeResponses(response);
    if (usages.length === 0) return [];
    if (remember) recordedResponses.add(response);
    const out: UsageRecord[] = [];
    for (const u of usages) {
      const r = this.record(
        {
          id: extra.id,
          agentName: extra.agentName,
          userId: extra.userId,
          group: extra.group,
          chatName: extra.chatName,
          providerName: extra.providerName,
          modelName: extra.modelName ?? u.modelName ?? undefined,
          inputTokens: u.inputTokens,
          cachedInputTokens: u.cachedInputTokens,
          cacheWriteTokens: u.cacheWriteTokens,
          outputTokens: u.outputTokens,
          reasoningTokens: u.reasoningTokens,
          totalTokens: u.totalTokens,
          usageMissing: u.usageMissing,
          requests: extra.requests,
          success: extra.success,
          costNanoUsd: extra.costNanoUsd,
          priceSource: extra.priceSource,
          recordedAt: extra.recordedAt,
          metadata: extra.metadata,
          storage: extra.storage,
        },
        u.providerName,
      );
      if (r) out.push(r);
    }
    return out;
  }

  /** Automatic capture of a tracked method's result: never throws into the agent's call. */
  private capture(value: unknown, frame: TrackedCallFrame): void {
    try {
      this.recordResponseOnce(value, {}, frame.parent !== undefined);
    } catch (err) {
      this.stats.captureErrors++;
      this.logger.error(
        `usage capture failed for ${frame.className}.${frame.method} (the call itself succeeded): ${(err as Error).message}`,
        (err as Error).stack,
      );
    }
  }

  private callInfo(frame: TrackedCallFrame, ctx: UsageContextState): UsageCallInfo {
    return {
      frame,
      agentName: this.agentNameOf(frame),
      providerName: frame.methodMeta?.provider ?? frame.classMeta?.provider ?? this.options.defaultProvider ?? null,
      modelName: frame.methodMeta?.model ?? frame.classMeta?.model ?? null,
      userId: ctx.userId ?? null,
      group: ctx.group ?? frame.methodMeta?.group ?? frame.classMeta?.group ?? null,
      chatName: ctx.chatName ?? null,
    };
  }

  /**
   * Runs a tracked method inside its context: guards first (budgets), then the method, then capture
   * of its result. Keeps a synchronous method synchronous when no guard is asynchronous.
   */
  invoke(frame: TrackedCallFrame, original: (...a: unknown[]) => unknown, thisArg: unknown, args: unknown[]): unknown {
    const parent = usageContextStorage.getStore();
    frame.parent = parent?.frame;
    // Fixed-shape copy (an object spread here costs more than the rest of the capture).
    const state: UsageContextState = {
      userId: parent?.userId,
      group: parent?.group,
      chatName: parent?.chatName,
      agentName: parent?.agentName,
      metadata: parent?.metadata,
      trackingOverride: parent?.trackingOverride,
      budgetReservation: parent?.budgetReservation,
      frame,
    };
    return usageContextStorage.run(state, () => {
      if (this.guards.length > 0) {
        const info = this.callInfo(frame, state);
        let pending: Promise<void> | undefined;
        for (const g of this.guards) {
          const r = pending ? pending.then(() => g(info)) : g(info);
          if (r && typeof (r as Promise<void>).then === 'function') pending = r as Promise<void>;
        }
        if (pending) return pending.then(() => this.callAndCapture(frame, original, thisArg, args));
      }
      return this.callAndCapture(frame, original, thisArg, args);
    });
  }

  private callAndCapture(frame: TrackedCallFrame, original: (...a: unknown[]) => unknown, thisArg: unknown, args: unknown[]): unknown {
    const result = original.apply(thisArg, args);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      const state = usageContextStorage.getStore();
      return (result as Promise<unknown>).then((value) => this.captureOrWrap(value, frame, state));
    }
    return this.captureOrWrap(result, frame, usageContextStorage.getStore());
  }

  /** A stream is handed back wrapped, recorded when its iteration ends; anything else is captured now. */
  private captureOrWrap(value: unknown, frame: TrackedCallFrame, state: UsageContextState | undefined): unknown {
    if (
      value &&
      typeof value === 'object' &&
      typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' &&
      !recordedResponses.has(value)
    ) {
      return this.wrapStream(value as AsyncIterable<unknown> & object, frame, state);
    }
    this.capture(value, frame);
    return value;
  }

  /**
   * Observes a streamed response without changing what the caller sees: only `Symbol.asyncIterator`
   * is intercepted; other members (e.g. `controller`, `toReadableStream`) reach the original stream.
   */
  private wrapStream<T extends AsyncIterable<unknown> & object>(stream: T, frame: TrackedCallFrame, state: UsageContextState | undefined): T {
    const record = (input: UsageRecordInput, provider: string | null) => this.record(input, provider);
    const onError = (err: Error) => {
      this.stats.captureErrors++;
      this.logger.error(`usage capture of a stream from ${frame.className}.${frame.method} failed: ${err.message}`);
    };
    recordedResponses.add(stream);
    return new Proxy(stream, {
      get(target, prop) {
        if (prop === Symbol.asyncIterator) {
          return () => {
            const it = target[Symbol.asyncIterator]();
            const collector = new StreamUsageCollector();
            let finished = false;
            const finish = (success: boolean) => {
              if (finished) return;
              finished = true;
              const usage = collector.result();
              if (!usage) return;
              const run = () => {
                try {
                  record(
                    {
                      modelName: usage.modelName ?? undefined,
                      inputTokens: usage.inputTokens,
                      cachedInputTokens: usage.cachedInputTokens,
                      cacheWriteTokens: usage.cacheWriteTokens,
                      outputTokens: usage.outputTokens,
                      reasoningTokens: usage.reasoningTokens,
                      totalTokens: usage.totalTokens,
                      usageMissing: usage.usageMissing,
                      success,
                    },
                    usage.providerName,
                  );
                } catch (err) {
                  onError(err as Error);
                }
              };
              if (state) usageContextStorage.run(state, run);
              else run();
            };
            const iterator: AsyncIterableIterator<unknown> = {
              async next(...a: [] | [unknown]) {
                try {
                  const r = await it.next(...a);
                  if (r.done) finish(true);
                  else collector.observe(r.value);
                  return r;
                } catch (err) {
                  finish(false);
                  throw err;
                }
              },
              async return(v?: unknown) {
                finish(true);
                return it.return ? it.return(v) : { done: true, value: v };
              },
              async throw(e?: unknown) {
                finish(false);
                if (it.throw) return it.throw(e);
                throw e;
              },
              [Symbol.asyncIterator]() {
                return iterator;
              },
            };
            return iterator;
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  }
}
