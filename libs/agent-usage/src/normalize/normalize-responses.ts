import { normalizeAgentsRun } from './agents-run';
import { NormalizedUsage, normalizeAiSdkSteps, normalizeResponse } from './normalize-usage';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null;

/**
 * Every model call inside `value`, one per model request, so per-request prices and tiers apply per
 * request: one for a single response, one per step of a Vercel AI SDK result (`steps`), one per model
 * response of an OpenAI Agents SDK run result (see agents-run.ts).
 */
export function normalizeResponses(value: unknown): NormalizedUsage[] {
  if (isObj(value) && Array.isArray(value.rawResponses) && value.rawResponses.length > 0) {
    const out = normalizeAgentsRun(value, null);
    if (out.length) return out;
  }
  if (isObj(value) && Array.isArray(value.steps) && value.steps.length > 0 && isObj(value.steps[0]?.usage)) {
    return normalizeAiSdkSteps(value.steps);
  }
  const one = normalizeResponse(value);
  return one ? [one] : [];
}

