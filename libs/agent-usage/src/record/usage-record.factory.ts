import { MAX_ATTRIBUTION_LENGTH } from '../common/usage-tracking.constants';
import { InvalidUsageInputError, unknownKeyError } from '../common/usage.errors';
import { assertTokenRelations, countOf } from '../common/token-counts';
import type { NormalizedUsage } from '../normalize/normalize-usage';
import { newUsageId } from './usage-id';
import { ATTRIBUTION_FIELDS, DEFAULT_CATEGORY, TOKEN_FIELDS, type UsageRecord, type UsageRecordInput } from '../interfaces/usage-record.interface';

/**
 * The record rule: what every driver (memory, file, PostgreSQL, Redis) can store exactly. A record
 * outside it is refused at `record()`, so no store can refuse it later and block the records behind it.
 */
export const RECORD_LIMITS = {
  idLength: 128,
  attributionLength: MAX_ATTRIBUTION_LENGTH,
  /** `metadata` as JSON, in UTF-16 code units (what `JSON.stringify(...).length` says). */
  metadataJsonLength: 16_384,
  /** Each count (tokens, `units`), `inputTokens + outputTokens`, and the priced cost: 2^53 - 1. */
  maxCount: Number.MAX_SAFE_INTEGER,
  /** `recordedAt` from 1970-01-01T00:00:00Z (inclusive) to 10000-01-01T00:00:00Z (exclusive). */
  minRecordedAt: 0,
  maxRecordedAt: Date.UTC(10_000, 0, 1),
} as const;

const MAX_ID_LENGTH = RECORD_LIMITS.idLength;
const MAX_METADATA_JSON = RECORD_LIMITS.metadataJsonLength;
// Control characters in an attribution value are rejected: they break logs, CSV exports and keys.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
// A lone UTF-16 surrogate cannot be encoded as UTF-8: PostgreSQL and Redis would store something else.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// In JSON text a lone surrogate comes out as an escape (after an even run of backslashes); jsonb refuses it.
const JSON_LONE_SURROGATE = /(?:^|[^\\])(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/i;
/** ISO 8601 date-time with seconds optional and an explicit offset (`Z` or `+hh:mm`). */
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

const INPUT_KEYS = [
  'id',
  ...ATTRIBUTION_FIELDS,
  ...TOKEN_FIELDS,
  'units',
  'requests',
  'success',
  'usageMissing',
  'runStart',
  'agentRunStart',
  'costNanoUsd',
  'priceSource',
  'recordedAt',
  'metadata',
  'storage',
] as const satisfies readonly (keyof UsageRecordInput)[];
// A field added to UsageRecordInput but not to the list above fails to compile here.
const EVERY_INPUT_KEY_LISTED: Exclude<keyof UsageRecordInput, (typeof INPUT_KEYS)[number]> extends never ? true : never = true;
void EVERY_INPUT_KEY_LISTED;

/** The keys `record()` takes; anything else is a typo that would silently drop data. */
export const RECORD_INPUT_KEYS: ReadonlySet<string> = new Set<string>(INPUT_KEYS);

/** Throws unless `input` is an object made only of known keys (no allocation on the good path). */
export function assertRecordInput(input: unknown, field = 'record'): asserts input is UsageRecordInput {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidUsageInputError(field, 'an object of usage fields (inputTokens, outputTokens, ...)', input);
  }
  for (const key in input) {
    if (!RECORD_INPUT_KEYS.has(key)) throw unknownKeyError(`${field}.${key}`, key, RECORD_INPUT_KEYS);
  }
}

/**
 * The last accepted value per attribution field. Agent, model, provider and category names repeat from
 * record to record (mostly the very same string objects, from decorators and responses): an equal string
 * was checked already, which skips two regular expressions per field on the call path.
 */
const lastAccepted = new Map<string, string>();

function text(field: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && lastAccepted.get(field) === value) return value;
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_ATTRIBUTION_LENGTH ||
    CONTROL_CHARS.test(value) ||
    LONE_SURROGATE.test(value)
  ) {
    throw new InvalidUsageInputError(
      field,
      `a string of 1 to ${MAX_ATTRIBUTION_LENGTH} characters without control characters or lone surrogates (or null)`,
      value,
    );
  }
  lastAccepted.set(field, value);
  return value;
}

const INSTANT_EXPECTED =
  'a valid Date, epoch milliseconds or an ISO 8601 date-time with an offset ("2026-01-31T12:00:00Z", "...+02:00"), ' +
  'from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z';

function daysIn(year: number, month: number): number {
  return month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** A string is taken only when it is a real calendar instant with an offset (no server-zone guessing, no rollover). */
function parseInstant(value: string): number {
  const m = ISO_INSTANT.exec(value);
  if (!m) return NaN;
  const month = +m[2];
  const dayOfMonth = +m[3];
  if (month < 1 || month > 12 || dayOfMonth < 1 || dayOfMonth > daysIn(+m[1], month)) return NaN;
  if (+m[4] > 23 || +m[5] > 59 || (m[6] !== undefined && +m[6] > 59)) return NaN;
  if (m[7] !== undefined && (+m[7] > 23 || +m[8] > 59)) return NaN;
  return Date.parse(value);
}

function instant(value: unknown): Date {
  if (value === undefined) return new Date();
  const ms =
    value instanceof Date ? value.getTime() : typeof value === 'number' ? value : typeof value === 'string' ? parseInstant(value) : NaN;
  if (!(ms >= RECORD_LIMITS.minRecordedAt && ms < RECORD_LIMITS.maxRecordedAt)) {
    throw new InvalidUsageInputError('recordedAt', INSTANT_EXPECTED, value);
  }
  return new Date(ms);
}

/**
 * Builds a validated record; `fill` supplies attribution the input leaves out (no object spread:
 * this runs once per model call). Throws `InvalidUsageInputError` naming the first bad field; nothing is
 * stored in that case. Kept allocation-light: it runs on the agent's call path.
 */
/** The count fields, from the input or from a normalized response. */
type TokenCountsOf = Pick<UsageRecordInput, 'inputTokens' | 'cachedInputTokens' | 'cacheWriteTokens' | 'outputTokens' | 'reasoningTokens' | 'totalTokens'>;

/** Attribution used where the input leaves a field out (from the call chain). */
export interface UsageRecordFill {
  agentName: string | null;
  userId: string | null;
  group: string | null;
  chatName: string | null;
  providerName: string | null;
  modelName: string | null;
  metadata: Record<string, unknown> | null;
  /** From the context or `@TrackUsage({ category })`; "chat" when nothing names one. */
  category?: string | null;
  /** The current run (from the call context). */
  runId?: string | null;
}

/**
 * `usage`: counts normalized from a model response (automatic capture). They replace the input's counts,
 * its `usageMissing` and run marks, and name the model when the input does not: the same record as for an
 * input object holding them, without building that 26-field object per model call.
 */
export function createUsageRecord(input: UsageRecordInput, fill?: UsageRecordFill, usage?: NormalizedUsage): UsageRecord {
  assertRecordInput(input);
  const counts: TokenCountsOf = usage ?? input;
  let id: string;
  if (input.id === undefined || input.id === null) id = newUsageId();
  else if (typeof input.id !== 'string' || input.id.length === 0 || input.id.length > MAX_ID_LENGTH || CONTROL_CHARS.test(input.id)) {
    throw new InvalidUsageInputError('id', `a string of 1 to ${MAX_ID_LENGTH} printable characters`, input.id);
  } else id = input.id;

  const inputTokens = countOf('inputTokens', counts.inputTokens);
  const cachedInputTokens = countOf('cachedInputTokens', counts.cachedInputTokens);
  const cacheWriteTokens = countOf('cacheWriteTokens', counts.cacheWriteTokens);
  const outputTokens = countOf('outputTokens', counts.outputTokens);
  const reasoningTokens = countOf('reasoningTokens', counts.reasoningTokens);
  let totalTokens = countOf('totalTokens', counts.totalTokens);
  assertTokenRelations(inputTokens, cachedInputTokens, cacheWriteTokens, outputTokens, reasoningTokens);
  if (totalTokens === null && inputTokens !== null && outputTokens !== null) {
    totalTokens = inputTokens + outputTokens;
    if (totalTokens > Number.MAX_SAFE_INTEGER) {
      throw new InvalidUsageInputError('outputTokens', `at most 2^53-1 together with inputTokens (${inputTokens})`, outputTokens);
    }
  }

  let requests = 1;
  if (input.requests !== undefined) {
    if (typeof input.requests !== 'number' || !Number.isSafeInteger(input.requests) || input.requests < 0) {
      throw new InvalidUsageInputError('requests', 'a non-negative integer', input.requests);
    }
    requests = input.requests;
  }
  if (input.success !== undefined && typeof input.success !== 'boolean') {
    throw new InvalidUsageInputError('success', 'a boolean', input.success);
  }
  const givenMissing = usage ? usage.usageMissing : input.usageMissing;
  if (givenMissing !== undefined && typeof givenMissing !== 'boolean') {
    throw new InvalidUsageInputError('usageMissing', 'a boolean', givenMissing);
  }
  const runStart = usage ? undefined : input.runStart;
  const agentRunStart = usage ? undefined : input.agentRunStart;
  if (runStart !== undefined && typeof runStart !== 'boolean') {
    throw new InvalidUsageInputError('runStart', 'a boolean', runStart);
  }
  if (agentRunStart !== undefined && typeof agentRunStart !== 'boolean') {
    throw new InvalidUsageInputError('agentRunStart', 'a boolean', agentRunStart);
  }
  const costNanoUsd = countOf('costNanoUsd', input.costNanoUsd);
  const units = countOf('units', input.units);
  let metadata: Record<string, unknown> | null = null;
  const meta = input.metadata ?? fill?.metadata;
  if (meta !== undefined && meta !== null) {
    if (typeof meta !== 'object' || Array.isArray(meta)) {
      throw new InvalidUsageInputError('metadata', 'a plain object (or null)', meta);
    }
    let json: string;
    try {
      json = JSON.stringify(meta);
    } catch {
      throw new InvalidUsageInputError('metadata', 'JSON-serializable', meta);
    }
    if (json.length > MAX_METADATA_JSON) {
      throw new InvalidUsageInputError('metadata', `at most ${MAX_METADATA_JSON} characters as JSON`, `${json.length} characters`);
    }
    if (JSON_LONE_SURROGATE.test(json)) {
      throw new InvalidUsageInputError('metadata', 'JSON without lone UTF-16 surrogates (PostgreSQL jsonb refuses them)', meta);
    }
    metadata = meta;
  }
  // A per-unit operation (units given) is not a model response without usage: its units are its usage.
  const usageMissing =
    givenMissing ?? (inputTokens === null && outputTokens === null && totalTokens === null && units === null);
  return {
    id,
    agentName: text('agentName', input.agentName ?? fill?.agentName),
    userId: text('userId', input.userId ?? fill?.userId),
    group: text('group', input.group ?? fill?.group),
    chatName: text('chatName', input.chatName ?? fill?.chatName),
    modelName: text('modelName', input.modelName ?? usage?.modelName ?? fill?.modelName),
    providerName: text('providerName', input.providerName ?? fill?.providerName),
    category: text('category', input.category ?? fill?.category) ?? DEFAULT_CATEGORY,
    units,
    inputTokens,
    cachedInputTokens,
    cacheWriteTokens,
    outputTokens,
    reasoningTokens,
    totalTokens,
    requests,
    success: input.success ?? true,
    usageMissing,
    runId: text('runId', input.runId === undefined ? (fill?.runId ?? null) : input.runId),
    runStart: runStart ?? false,
    agentRunStart: agentRunStart ?? false,
    errorType: text('errorType', input.errorType),
    costNanoUsd,
    priceSource: text('priceSource', input.priceSource),
    recordedAt: instant(input.recordedAt),
    metadata,
  };
}
