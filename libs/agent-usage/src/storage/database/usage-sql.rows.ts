import { USAGE_SUM_FIELDS, type RawUsageTotals } from '../../interfaces/usage-query.interface';
import { DEFAULT_CATEGORY, type UsageRecord } from '../../interfaces/usage-record.interface';
import { LEDGER_COLUMNS } from './usage-sql.builder';

/** SELECT list that `rowToRecord` reads. */
export const LEDGER_SELECT_SQL = [
  ...LEDGER_COLUMNS.filter((c) => c.column !== 'recorded_at').map((c) => c.column),
  // Epoch ms as text: exact, and immune to type parsers a host may have installed on its pg driver.
  `round(extract(epoch FROM recorded_at) * 1000)::bigint::text AS recorded_at_ms`,
].join(', ');

const toCount = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const toBool = (v: unknown): boolean => v === true || v === 't' || v === 'true';

export function rowToRecord(row: Record<string, any>): UsageRecord {
  let metadata = row.metadata ?? null;
  if (typeof metadata === 'string') metadata = JSON.parse(metadata);
  return {
    id: row.record_id,
    agentName: row.agent_name ?? null,
    userId: row.user_id ?? null,
    group: row.group_name ?? null,
    chatName: row.chat_name ?? null,
    modelName: row.model_name ?? null,
    providerName: row.provider_name ?? null,
    category: row.category ?? DEFAULT_CATEGORY,
    units: toCount(row.units),
    inputTokens: toCount(row.input_tokens),
    cachedInputTokens: toCount(row.cached_input_tokens),
    cacheWriteTokens: toCount(row.cache_write_tokens),
    outputTokens: toCount(row.output_tokens),
    reasoningTokens: toCount(row.reasoning_tokens),
    totalTokens: toCount(row.total_tokens),
    requests: Number(row.requests),
    success: toBool(row.success),
    usageMissing: toBool(row.usage_missing),
    runId: row.run_id ?? null,
    runStart: toBool(row.run_start),
    agentRunStart: toBool(row.agent_run_start),
    errorType: row.error_type ?? null,
    costNanoUsd: toCount(row.cost_nano_usd),
    priceSource: row.price_source ?? null,
    recordedAt: new Date(Number(row.recorded_at_ms)),
    metadata,
  };
}

/** Picks the totals out of a row (integer strings, as the SQL above returns them). */
export function rowToRawTotals(row: Record<string, any> | undefined): RawUsageTotals {
  const out = {} as Record<keyof RawUsageTotals, string>;
  for (const k of USAGE_SUM_FIELDS) out[k] = row?.[k] === undefined || row[k] === null ? '0' : String(row[k]);
  return out;
}

/** Raw totals to the public shape, exact at any size (see query/usage-totals.ts). */

/**
 * TypeORM's postgres `query()` returns `[rows, affected]` for top-level UPDATE/DELETE and the rows
 * otherwise; a raw pg client returns `{ rows }`. Every statement here ends in a SELECT or INSERT, but
 * accept all shapes.
 */
export function rowsOf(result: unknown): Record<string, any>[] {
  if (Array.isArray(result)) {
    if (result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0];
    return result;
  }
  if (result && typeof result === 'object') {
    const r = result as { rows?: unknown; records?: unknown };
    if (Array.isArray(r.rows)) return r.rows;
    if (Array.isArray(r.records)) return r.records;
  }
  return [];
}
