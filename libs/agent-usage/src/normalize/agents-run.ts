import { fromUsageObject, missing, NormalizedUsage, normalizeResponse } from './normalize-usage';
import { StreamUsageCollector } from './stream-usage';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null;
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

/**
 * OpenAI Agents SDK run results -> one usage per model request (`result.rawResponses`, in order).
 *
 * Each request's own answer wins, so a handoff books the triage agent's requests to the triage
 * agent's model and a `Model` object (`new OpenAIChatCompletionsModel(client, 'gpt-4o-mini')`) still
 * gives a model name: the raw provider response (`providerData` of a non-streamed request) is
 * normalized as a plain call would be, with the model the API answered (`gpt-4.1-2025-04-14`), so plain
 * calls and runs land in the same model row. Without it (streamed runs), `streamed` holds what the
 * run's raw model events showed for each request (see AgentsRunStreamObserver); then the SDK's own
 * `Usage` (details are arrays, one per request, in 0.20) and, as a last resort, the last agent's
 * configured model name.
 */
export function normalizeAgentsRun(result: Obj, streamed: readonly (NormalizedUsage | null)[] | null): NormalizedUsage[] {
  const responses: unknown[] = result.rawResponses;
  const fallbackModel = str(result.lastAgent?.model);
  const out: NormalizedUsage[] = [];
  for (let i = 0; i < responses.length; i++) {
    const r = responses[i];
    if (!isObj(r)) continue;
    const raw = r.providerData;
    if (isObj(raw) && isObj(raw.usage) && (raw.object === 'chat.completion' || raw.object === 'response')) {
      const one = normalizeResponse(raw);
      if (one) {
        out.push(one);
        continue;
      }
    }
    const seen = streamed && streamed.length === responses.length ? streamed[i] : null;
    if (seen && !seen.usageMissing) {
      out.push(seen);
      continue;
    }
    const model = str(raw?.model) ?? seen?.modelName ?? fallbackModel;
    // `rawUsage` (modelSettings.preserveRawUsage) is the provider's own usage object: exact.
    const usage = isObj(r.rawUsage) ? r.rawUsage : isObj(r.usage) ? r.usage : null;
    if (!usage) continue;
    const one = fromUsageObject(usage, seen?.providerName ?? 'openai', model);
    if (one.usageMissing && usage === r.usage && (usage.requests ?? 1) === 0) continue; // no request was made
    out.push(one);
  }
  return out;
}

/**
 * Watches the events of a streamed run as the caller iterates it: every `raw_model_stream_event` of a
 * model request goes to a stream collector, and `response_done` closes that request. What it keeps
 * (the model the API answered, the provider's own usage, cache writes included) is per request, in
 * the order of `rawResponses`.
 */
export class AgentsRunStreamObserver {
  readonly requests: (NormalizedUsage | null)[] = [];
  private current = new StreamUsageCollector();

  observe(event: unknown): void {
    if (!isObj(event) || event.type !== 'raw_model_stream_event' || !isObj(event.data)) return;
    const data = event.data;
    if (data.type === 'model') this.current.observe(data.event);
    else if (data.type === 'response_done') {
      const seen = this.current.result();
      // Streamed Responses requests name their model only in the closing event's providerData.
      const model = str(data.response?.providerData?.model);
      this.requests.push(seen && model && !seen.modelName ? { ...seen, modelName: model } : (seen ?? (model ? missing('openai', model) : null)));
      this.current = new StreamUsageCollector();
    }
  }
}

/** A streamed run (`run(agent, input, { stream: true })`): async-iterable, with a `completed` promise. */
export function isAgentsStreamedRun(value: unknown): value is Obj & AsyncIterable<unknown> {
  return (
    isObj(value) &&
    'rawResponses' in value &&
    'completed' in value &&
    typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' &&
    typeof (value as Obj).completed?.then === 'function'
  );
}
