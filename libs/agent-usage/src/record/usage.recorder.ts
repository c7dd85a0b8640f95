import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { UsageRecord, UsageRecordInput } from '../interfaces/usage-record.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../usage-tracking.constants';
import { UsageStorageRegistry, storageNamesOf } from '../storage/usage-storage.registry';
import { TrackedCallFrame, UsageContextState, UsageRunState, newRunState, usageContextStorage } from '../capture/usage-context';
import { normalizeResponses } from '../normalize/normalize-responses';
import { NormalizedUsage, normalizeAiSdkSteps } from '../normalize/normalize-usage';
import { AgentsRunStreamObserver, isAgentsStreamedRun, normalizeAgentsRun } from '../normalize/agents-run';
import { StreamUsageCollector } from '../normalize/stream-usage';
import { observeIteration } from '../capture/usage-stream.proxy';
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

/**
 * Responses already recorded, and streams already watched (the original and the proxy handed out):
 * a response or a stream returned through several tracked methods counts once.
 */
const recordedResponses = new WeakSet<object>();
/** Run ids the host named that this process remembers (their first records are already marked). */
const MAX_NAMED_RUNS = 10_000;
/** Errors already recorded (or raised by a call guard): an error rethrown through nested tracked calls counts once. */
const recordedErrors = new WeakSet<object>();

/** The class name of what was thrown (`RateLimitError`, `TypeError`), or its type for a non-object. */
export function errorTypeOf(err: unknown): string {
  const name = typeof err === 'object' && err !== null ? (err as { constructor?: { name?: unknown } }).constructor?.name : undefined;
  return typeof name === 'string' && name.length > 0 ? name.slice(0, 255) : typeof err;
}

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
  /** Runs named by the host, by id (see `namedRun`). */
  private readonly namedRuns = new Map<string, UsageRunState>();
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

  /** Agent name of a frame: a route's agent, then method, then class decorator, then the class name. */
  private agentNameOf(frame: TrackedCallFrame, ctx?: UsageContextState): string {
    return ctx?.routeAgentName ?? frame.methodMeta?.agentName ?? frame.classMeta?.agentName ?? frame.className;
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
        agentName: this.agentNameOf(frame, ctx),
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
  record(input: UsageRecordInput, detectedProvider: string | null = null, ownRun?: UsageRunState): UsageRecord | null {
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
    const run = ctx?.run ?? ownRun;
    const record = createUsageRecord(input, {
      agentName: (frame ? this.agentNameOf(frame, ctx) : (ctx?.routeAgentName ?? ctx?.agentName)) ?? null,
      userId: ctx?.userId ?? null,
      group: ctx?.group ?? frame?.methodMeta?.group ?? frame?.classMeta?.group ?? null,
      chatName: ctx?.chatName ?? null,
      providerName,
      modelName,
      metadata: ctx?.metadata ?? null,
      runId: run?.id ?? null,
    });
    // Marks are set only on a record that is really made (a rejected input must not use up the run's start);
    // marks given in the input win.
    if (record.runId !== null) {
      const given = input.runStart !== undefined || input.agentRunStart !== undefined;
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
    // Outside any run, one response (e.g. an Agents SDK run result with several requests) is one run.
    const ownRun = usageContextStorage.getStore()?.run ? undefined : newRunState(randomUUID());
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
          errorType: extra.errorType,
          runId: extra.runId,
          costNanoUsd: extra.costNanoUsd,
          priceSource: extra.priceSource,
          recordedAt: extra.recordedAt,
          metadata: extra.metadata,
          storage: extra.storage,
        },
        u.providerName,
        ownRun,
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

  /**
   * A tracked call threw (or its promise rejected): one failed record with the error's class name and
   * whatever usage the error carries (none: usage missing). Never throws into the agent's call; the
   * caller rethrows the original error.
   */
  private captureFailure(err: unknown, frame: TrackedCallFrame): void {
    const isObject = typeof err === 'object' && err !== null;
    if (isObject ? recordedErrors.has(err) : frame.parent !== undefined) return; // nested: the innermost call recorded it
    if (isObject) recordedErrors.add(err);
    try {
      const errorType = errorTypeOf(err);
      // An error object carrying `{ model, usage }` (or a response shape) is normalized like a response.
      const made = isObject ? this.recordResponseOnce(err, { success: false, errorType }, false) : [];
      if (made.length === 0) this.record({ success: false, errorType, usageMissing: true });
    } catch (captureErr) {
      this.stats.captureErrors++;
      this.logger.error(
        `usage capture of a failed call of ${frame.className}.${frame.method} failed (the call's own error is rethrown): ${(captureErr as Error).message}`,
        (captureErr as Error).stack,
      );
    }
  }

  private callInfo(frame: TrackedCallFrame, ctx: UsageContextState): UsageCallInfo {
    return {
      frame,
      agentName: this.agentNameOf(frame, ctx),
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
      // The outermost tracked call opens the run; nested calls share it.
      run: parent?.run ?? newRunState(randomUUID()),
      routeAgentName: parent?.routeAgentName,
      frame,
    };
    return usageContextStorage.run(state, () => {
      if (this.guards.length > 0) {
        const info = this.callInfo(frame, state);
        let pending: Promise<void> | undefined;
        // A refused call is not a model call: its error is never recorded as a failure.
        const refused = (err: unknown) => {
          if (typeof err === 'object' && err !== null) recordedErrors.add(err);
          throw err;
        };
        try {
          for (const g of this.guards) {
            const r = pending ? pending.then(() => g(info)) : g(info);
            if (r && typeof (r as Promise<void>).then === 'function') pending = r as Promise<void>;
          }
        } catch (err) {
          refused(err);
        }
        if (pending) return pending.then(() => this.callAndCapture(frame, original, thisArg, args), refused);
      }
      return this.callAndCapture(frame, original, thisArg, args);
    });
  }

  private callAndCapture(frame: TrackedCallFrame, original: (...a: unknown[]) => unknown, thisArg: unknown, args: unknown[]): unknown {
    let result: unknown;
    try {
      result = original.apply(thisArg, args);
    } catch (err) {
      this.captureFailure(err, frame);
      throw err; // the same object, untouched
    }
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      const state = usageContextStorage.getStore();
      return (result as Promise<unknown>).then(
        (value) => this.captureOrWrap(value, frame, state),
        (err: unknown) => {
          // The rejection handler runs outside the call's context: record inside it.
          if (state) usageContextStorage.run(state, () => this.captureFailure(err, frame));
          else this.captureFailure(err, frame);
          throw err;
        },
      );
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
   * Runs `onValue` in the tracked call's context once `promise` fulfils; a rejection (the stream failed
   * after the call returned) is recorded as a failure. The caller still sees the error through their own
   * use of the stream.
   */
  private whenSettled(promise: Promise<unknown>, frame: TrackedCallFrame, state: UsageContextState | undefined, onValue: (v: unknown) => void): void {
    promise.then(
      (v) => this.inContext(state, frame, () => onValue(v)),
      (err) => this.inContext(state, frame, () => this.recordStreamFailure(err, null)),
    );
  }

  /** A stream that ended in `error` after its call returned: one failed record, once per error object. */
  private recordStreamFailure(error: unknown, usage: NormalizedUsage | null): void {
    if (typeof error === 'object' && error !== null) {
      if (recordedErrors.has(error)) return;
      recordedErrors.add(error); // rethrown through a tracked caller, it counts once
    }
    const errorType = errorTypeOf(error);
    if (usage) this.recordUsages([usage], { success: false, errorType });
    else this.record({ success: false, errorType, usageMissing: true }, null);
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
          if (error === undefined) {
            if (usage) this.inContext(state, frame, () => this.recordUsages([usage], { success: true }));
            return;
          }
          this.inContext(state, frame, () => this.recordStreamFailure(error, usage));
        },
      };
    });
    // A tracked method returning another tracked method's stream hands on this proxy: counted once.
    recordedResponses.add(proxy);
    return proxy;
  }
}
