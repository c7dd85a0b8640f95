import { Inject, Injectable } from '@nestjs/common';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { DEFAULT_CATEGORY, type UsageRecordInput } from '../interfaces/usage-record.interface';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { TrackedCallFrame, UsageContextState, newRunState, usageContextStorage } from '../context/usage-context';
import { newUsageId } from '../record/usage-id';
import { UsageRecorder } from '../record/usage.recorder';
import { recordedResponses } from '../record/recorded-responses';
import { agentNameOf } from '../record/tracking.policy';
import { UsageBudgetService } from '../budgets/budget.service';
import { errorTypeOf, recordedErrors } from './call-errors';
import { UsageStreamCapture } from './usage-stream.capture';

/** The `extra` of an automatic capture: nothing beyond the response (one shared object, not one per call). */
const NO_EXTRA: Readonly<UsageRecordInput> = Object.freeze({});

/** What a call guard (e.g. a hard budget) sees before a tracked method runs. */
export interface UsageCallInfo {
  frame: TrackedCallFrame;
  agentName: string;
  providerName: string | null;
  modelName: string | null;
  userId: string | null;
  group: string | null;
  chatName: string | null;
  /** The category its records get when they name none (what category budgets count it under). */
  category: string;
}
/** Throws to refuse the call; may return a promise (e.g. an atomic check in Redis). */
export type UsageCallGuard = (call: UsageCallInfo) => void | Promise<void>;

/**
 * Runs a tracked method (the explorer's wrapper calls `invoke`): opens its usage context, asks the call
 * guards (hard budgets) first, calls the method, then hands its result to the recorder, or watches it
 * when it is a stream. Never throws into the agent's call on its own account.
 */
@Injectable()
export class TrackedCallInvoker {
  private readonly guards: UsageCallGuard[] = [];
  private readonly streams: UsageStreamCapture;

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly options: UsageTrackingModuleOptions,
    private readonly recorder: UsageRecorder,
    private readonly budgets: UsageBudgetService,
  ) {
    this.streams = new UsageStreamCapture(recorder);
    // Apps without hard budgets or runtime alerts pay nothing on the call path.
    if (budgets.guardsCalls) this.guards.push((info) => budgets.admit(info));
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
      category: parent?.category,
      metadata: parent?.metadata,
      trackingOverride: parent?.trackingOverride,
      // The outermost tracked call opens the run; nested calls share it.
      run: parent?.run ?? newRunState(newUsageId()),
      routeAgentName: parent?.routeAgentName,
      frame,
    };
    return usageContextStorage.run(state, () => {
      // Runtime alerts may appear at any time, so the guard stays registered; until one exists (or a hard
      // budget is configured) a call skips building its info.
      if (this.guards.length > 0 && this.budgets.admitting) {
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
        if (pending) return pending.then(() => this.callAndCapture(frame, original, thisArg, args, state), refused);
      }
      return this.callAndCapture(frame, original, thisArg, args, state);
    });
  }

  private callInfo(frame: TrackedCallFrame, ctx: UsageContextState): UsageCallInfo {
    return {
      frame,
      agentName: agentNameOf(frame, ctx),
      providerName: frame.methodMeta?.provider ?? frame.classMeta?.provider ?? this.options.defaultProvider ?? null,
      modelName: frame.methodMeta?.model ?? frame.classMeta?.model ?? null,
      userId: ctx.userId ?? null,
      group: ctx.group ?? frame.methodMeta?.group ?? frame.classMeta?.group ?? null,
      chatName: ctx.chatName ?? null,
      category: ctx.category ?? frame.methodMeta?.category ?? frame.classMeta?.category ?? DEFAULT_CATEGORY,
    };
  }

  /**
   * `state`: the call's context, the store `invoke` opened around this (passed down rather than looked up
   * again: each AsyncLocalStorage lookup costs on the call path, and the library never replaces a store).
   */
  private callAndCapture(frame: TrackedCallFrame, original: (...a: unknown[]) => unknown, thisArg: unknown, args: unknown[], state: UsageContextState): unknown {
    let result: unknown;
    try {
      result = original.apply(thisArg, args);
    } catch (err) {
      this.captureFailure(err, frame);
      throw err; // the same object, untouched
    }
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      return (result as Promise<unknown>).then(
        (value) => this.captureOrWrap(value, frame, state),
        (err: unknown) => {
          // The rejection handler runs outside the call's context: record inside it.
          usageContextStorage.run(state, () => this.captureFailure(err, frame));
          throw err;
        },
      );
    }
    return this.captureOrWrap(result, frame, state);
  }

  /**
   * Streams are recorded when they end (see UsageStreamCapture); anything else is captured now. A value
   * already recorded or watched by an inner tracked call is handed on untouched (counted once).
   */
  private captureOrWrap(value: unknown, frame: TrackedCallFrame, state: UsageContextState | undefined): unknown {
    if (!value || typeof value !== 'object' || recordedResponses.has(value)) return value;
    const watched = this.streams.watch(value, frame, state);
    if (watched !== undefined) return watched;
    this.capture(value, frame, state);
    return value;
  }

  /** Automatic capture of a tracked method's result: never throws into the agent's call. */
  private capture(value: unknown, frame: TrackedCallFrame, state: UsageContextState | undefined): void {
    try {
      this.recorder.recordResponseOnce(value, NO_EXTRA, frame.parent !== undefined, state);
    } catch (err) {
      this.recorder.stats.captureErrors++;
      this.recorder.logger.error(
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
      const made = isObject ? this.recorder.recordResponseOnce(err, { success: false, errorType }, false) : [];
      if (made.length === 0) this.recorder.record({ success: false, errorType, usageMissing: true });
    } catch (captureErr) {
      this.recorder.stats.captureErrors++;
      this.recorder.logger.error(
        `usage capture of a failed call of ${frame.className}.${frame.method} failed (the call's own error is rethrown): ${(captureErr as Error).message}`,
        (captureErr as Error).stack,
      );
    }
  }
}
