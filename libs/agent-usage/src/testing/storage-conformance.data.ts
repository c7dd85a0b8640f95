/** The records every driver stores in the conformance suite (storage-conformance.ts). */
import type { UsageRecord } from '../interfaces/usage-record.interface';
import { prng } from './prng';

/** Values chosen to break naive key encodings and SQL: quotes, separators, the word `group`, unicode. */
const AGENTS = ['support', 'research', "o'brien; DROP TABLE x;--", 'a:b|c*d', null];
const USERS = ['u1', 'u2', 'u 3', 'ünï', null];
const GROUPS = ['group', 'team-a', null];
const CHATS = ['c1', 'c2', null];
const MODELS = ['gpt-4o', 'claude-sonnet-4', 'gemini-2.5-pro', null];
const PROVIDERS = ['openai', 'anthropic', 'google', null];
/** Run ids (hostile ones too) and error class names; a record outside any run has runId null. */
const RUNS = ['run-1', 'run-2', 'run-3', "run'4|x:y", 'run 5', 'run-6', null];
const ERROR_TYPES = ['RateLimitError', 'APIError', 'TypeError', "Err'x|y", null];
/** Operation categories (hostile one too): "chat" records have no units, the others count some. */
const CATEGORIES = ['chat', 'chat', 'image', 'web-scrape', "cat'x|y:z"];
/** 2026-03-07 .. 2026-03-10 UTC, crossing midnight in New York too. */
/** The first record's instant (records spread over the days after it). */
export const BASE = Date.UTC(2026, 2, 7, 0, 0, 0);

export function conformanceRecords(count = 240, seed = 42): UsageRecord[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const out: UsageRecord[] = [];
  for (let i = 0; i < count; i++) {
    const missing = rnd() < 0.05;
    const input = missing ? null : Math.floor(rnd() * 5000);
    const cached = input === null ? null : rnd() < 0.3 ? null : Math.floor(input * rnd() * 0.5);
    const write = input === null || cached === null ? null : Math.floor((input - cached) * rnd() * 0.3);
    const output = missing ? null : Math.floor(rnd() * 2000);
    const reasoning = output === null || rnd() < 0.5 ? null : Math.floor(output * rnd());
    out.push({
      id: `rec-${seed}-${String(i).padStart(5, '0')}`,
      agentName: pick(AGENTS),
      userId: pick(USERS),
      group: pick(GROUPS),
      chatName: pick(CHATS),
      modelName: pick(MODELS),
      providerName: pick(PROVIDERS),
      category: 'chat',
      units: null,
      inputTokens: input,
      cachedInputTokens: cached,
      cacheWriteTokens: write,
      outputTokens: output,
      reasoningTokens: reasoning,
      totalTokens: input === null || output === null ? null : input + output,
      requests: 1 + Math.floor(rnd() * 2),
      success: rnd() > 0.1,
      usageMissing: missing,
      runId: null,
      runStart: false,
      agentRunStart: false,
      errorType: null,
      costNanoUsd: rnd() < 0.2 ? null : Math.floor(rnd() * 50_000_000),
      priceSource: rnd() < 0.5 ? null : 'table:test',
      // Whole milliseconds over ~3.5 days; a few share an instant to exercise the id tie-break.
      recordedAt: new Date(BASE + Math.floor(rnd() * 3.5 * 86_400_000)),
      metadata: rnd() < 0.3 ? { traceId: `t${i}`, nested: { n: i, ok: true } } : null,
    });
  }
  // Runs and errors from their own sequence (the fields above stay what they were for a given seed). The
  // first record of a run (and of each agent in it), in generation order, carries its marks.
  const rr = prng(seed + 1000);
  const runs = new Map<string, Set<string>>();
  for (const r of out) {
    r.runId = RUNS[Math.floor(rr() * RUNS.length)];
    r.errorType = r.success ? null : ERROR_TYPES[Math.floor(rr() * ERROR_TYPES.length)];
    r.runStart = false;
    r.agentRunStart = false;
    if (r.runId === null) continue;
    let agents = runs.get(r.runId);
    if (!agents) {
      runs.set(r.runId, (agents = new Set()));
      r.runStart = true;
    }
    if (!agents.has(r.agentName ?? '')) {
      agents.add(r.agentName ?? '');
      r.agentRunStart = true;
    }
  }
  // Categories and units from a third sequence, for the same reason.
  const rc = prng(seed + 2000);
  for (const r of out) {
    r.category = CATEGORIES[Math.floor(rc() * CATEGORIES.length)];
    r.units = r.category === 'chat' ? null : rc() < 0.1 ? 0 : 1 + Math.floor(rc() * 40);
  }
  // Same instant for two records: list order must fall back to id descending.
  if (out.length > 1) out[1].recordedAt = new Date(out[0].recordedAt.getTime());
  return out;
}
