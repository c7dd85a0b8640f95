import type { TrackedCallFrame, UsageContextState } from '../context/usage-context';
import { usageContextStorage } from '../context/usage-context';
import { NormalizedUsage, normalizeAiSdkSteps } from '../normalize/normalize-usage';
import { AgentsRunStreamObserver, isAgentsStreamedRun, normalizeAgentsRun } from '../normalize/agents-run';
import { StreamUsageCollector } from '../normalize/stream-usage';
import type { UsageRecorder } from '../record/usage.recorder';
import { recordedResponses } from '../record/recorded-responses';
import { observeIteration } from './usage-stream.proxy';
import { errorTypeOf, recordedErrors } from './call-errors';

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
 * Streamed results of tracked calls, recorded when they end: SDK helper streams through their own final
 * result, streamed Agents SDK runs when `completed` settles, AI SDK `streamText` when its steps settle,
 * other async iterables (raw SDK streams) wrapped and observed as the caller iterates.
 */
export class UsageStreamCapture {
  constructor(private readonly recorder: UsageRecorder) {}

  /** What to hand back for a streamed `value` (watched from now on), or undefined when it is not a stream. */
  watch(value: object, frame: TrackedCallFrame, state: UsageContextState | undefined): unknown {
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
        this.whenSettled(Promise.resolve(v.steps), frame, state, (steps) => this.recorder.recordUsages(normalizeAiSdkSteps(steps as unknown[]), {}));
        return value;
      }
    } catch (err) {
      this.captureFailed(frame, err as Error);
      return value;
    }
    if (typeof v[Symbol.asyncIterator] === 'function') return this.wrapStream(v as AsyncIterable<unknown> & object, frame, state);
    return undefined;
  }

  /**
   * A helper's final result: one completion, a list of them (a chat completion run), a response, a
   * message. Remembered: the caller may pass the same object through another tracked method.
   */
  private recordDeferred(result: unknown): void {
    for (const r of Array.isArray(result) ? result : [result]) this.recorder.recordResponseOnce(r, {}, true);
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
    if (usage) this.recorder.recordUsages([usage], { success: false, errorType });
    else this.recorder.record({ success: false, errorType, usageMissing: true }, null);
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
    this.recorder.stats.captureErrors++;
    this.recorder.logger.error(`usage capture of a stream from ${frame.className}.${frame.method} failed: ${err.message}`, err.stack);
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
      this.inContext(state, frame, () => this.recorder.recordUsages(normalizeAgentsRun(run, observer.requests), {}));
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
            if (usage) this.inContext(state, frame, () => this.recorder.recordUsages([usage], { success: true }));
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
