import { Inject, Injectable, Logger } from '@nestjs/common';
import type { UsageRecord, UsageRecordInput } from '../interfaces/usage-record.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../usage-tracking.constants';
import { UsageStorageRegistry, storageNamesOf } from '../storage/usage-storage.registry';
import { TrackedCallFrame, UsageContextState, usageContextStorage } from '../capture/usage-context';
import { normalizeResponses } from '../normalize/normalize-responses';
import { NormalizedUsage, normalizeAiSdkSteps } from '../normalize/normalize-usage';
import { AgentsRunStreamObserver, isAgentsStreamedRun, normalizeAgentsRun } from '../normalize/agents-run';
import { StreamUsageCollector } from '../normalize/stream-usage';
import { observeIteration } from '../capture/usage-stream.proxy';
import { createUsageRecord } from './usage-record.factory';

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

/**
 * Responses already recorded, and streams already watched (the original and the proxy handed out):
 * a response or a stream returned through several tracked methods counts once.
 */
const recordedResponses = new WeakSet<object>();

type Obj = Record<string | symbol, any>;

/**
 * The final-result method of an SDK helper stream, which records the whole answer whichever way the
 * caller consumes it: OpenAI `chat.completions.stream()` (every completion of the run), `responses.stream()`,
 * Anthropic `messages.stream()`. These helpers read the HTTP stream themselves, so awaiting their end
 * does not change what the caller sees.
 */
function helperFinalResult(v: Obj): (() => Promise<unknown>) | null {
  if (typeof v.done === 'function' && typeof v.allChatCompletions === 'function' && typeof v.finalChatCompletion === 'function') {
    return () => v.done().then(() => v.allChatCompletions());
  }
  if (typeof v.finalResponse === 'function' && typeof v.on === 'function') return () => v.finalResponse();
  if (typeof v.finalMessage === 'function' && typeof v.on === 'function') return () => v.finalMessage();
  return null;
}

/** A Vercel AI SDK `streamText` result: its `steps` promise settles when the stream is consumed. */
const isAiSdkStream = (v: Obj): boolean => 'fullStream' in v && 'totalUsage' in v && 'steps' in v && !Array.isArray(v.steps);

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
    return this.recordUsages(usages, extra);
  }

  /** One record per normalized model request. */
  private recordUsages(usages: readonly NormalizedUsage[], extra: UsageRecordInput): UsageRecord[] {
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

  /**
   * Streams are recorded when they end: SDK helper streams through their own final result, streamed
   * Agents SDK runs when `completed` settles, AI SDK `streamText` when its steps settle, other async
   * iterables (raw SDK streams) wrapped and observed as the caller iterates. Anything else is captured now.
   * A value already recorded or watched by an inner tracked call is handed on untouched (counted once).
   */
  private captureOrWrap(value: unknown, frame: TrackedCallFrame, state: UsageContextState | undefined): unknown {
    if (!value || typeof value !== 'object' || recordedResponses.has(value)) return value;
    const v = value as Obj;
    try {
      if (isAgentsStreamedRun(v)) return this.watchAgentsRun(v, frame, state);
      const final = helperFinalResult(v);
      if (final) {
        recordedResponses.add(v);
        this.whenSettled(final(), frame, state, (result) => this.recordDeferred(result));
        return value;
      }
      if (isAiSdkStream(v)) {
        recordedResponses.add(v);
        this.whenSettled(Promise.resolve(v.steps), frame, state, (steps) => this.recordUsages(normalizeAiSdkSteps(steps as unknown[]), {}));
        return value;
      }
    } catch (err) {
      this.captureFailed(frame, err as Error);
      return value;
    }
    if (typeof v[Symbol.asyncIterator] === 'function') return this.wrapStream(v as AsyncIterable<unknown> & object, frame, state);
    this.capture(value, frame);
    return value;
  }

  /**
   * A helper's final result: one completion, a list of them (a chat completion run), a response, a
   * message. Remembered: the caller may pass the same object through another tracked method.
   */
  private recordDeferred(result: unknown): void {
    for (const r of Array.isArray(result) ? result : [result]) this.recordResponseOnce(r, {}, true);
  }

  /**
   * Runs `onValue` in the tracked call's context once `promise` fulfils. A rejection is the caller's to
   * see through their own use of the stream: nothing is recorded for it here.
   */
  private whenSettled(promise: Promise<unknown>, frame: TrackedCallFrame, state: UsageContextState | undefined, onValue: (v: unknown) => void): void {
    promise.then(
      (v) => this.inContext(state, frame, () => onValue(v)),
      () => undefined,
    );
  }

  private inContext(state: UsageContextState | undefined, frame: TrackedCallFrame, fn: () => void): void {
    try {
      if (state) usageContextStorage.run(state, fn);
      else fn();
    } catch (err) {
      this.captureFailed(frame, err as Error);
    }
  }

  private captureFailed(frame: TrackedCallFrame, err: Error): void {
    this.stats.captureErrors++;
    this.logger.error(`usage capture of a stream from ${frame.className}.${frame.method} failed: ${err.message}`, err.stack);
  }

  /**
   * A streamed Agents SDK run: one record per model request once the run has completed and the caller's
   * iteration (if any) has ended, so the raw model events it saw (each request's model and usage) are
   * known. Recorded whether or not the caller awaits `completed`.
   */
  private watchAgentsRun<T extends Obj & AsyncIterable<unknown>>(run: T, frame: TrackedCallFrame, state: UsageContextState | undefined): T {
    const observer = new AgentsRunStreamObserver();
    let iterating = 0;
    let completed = false;
    let recorded = false;
    const settle = () => {
      if (recorded || !completed || iterating > 0) return;
      recorded = true;
      this.inContext(state, frame, () => this.recordUsages(normalizeAgentsRun(run, observer.requests), {}));
    };
    // A failed run still made (and pays for) the requests that completed before it failed.
    (run.completed as Promise<unknown>).then(
      () => ((completed = true), settle()),
      () => ((completed = true), settle()),
    );
    const proxy = observeIteration(run, () => {
      iterating++;
      return {
        value: (e) => observer.observe(e),
        end: () => {
          iterating--;
          settle();
        },
      };
    });
    recordedResponses.add(run);
    recordedResponses.add(proxy);
    return proxy;
  }

  /** A raw SDK stream (or any async iterable): one record per iteration, made when it ends. */
  private wrapStream<T extends AsyncIterable<unknown> & object>(stream: T, frame: TrackedCallFrame, state: UsageContextState | undefined): T {
    recordedResponses.add(stream);
    const proxy = observeIteration(stream, () => {
      const collector = new StreamUsageCollector();
      return {
        value: (chunk) => collector.observe(chunk),
        end: (error) => {
          const usage = collector.result();
          if (usage) this.inContext(state, frame, () => this.recordUsages([usage], { success: error === undefined }));
        },
      };
    });
    // A tracked method returning another tracked method's stream hands on this proxy: counted once.
    recordedResponses.add(proxy);
    return proxy;
  }
}
