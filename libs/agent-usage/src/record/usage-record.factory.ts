import { randomUUID } from 'node:crypto';
import { MAX_ATTRIBUTION_LENGTH } from '../common/usage-tracking.constants';
import { InvalidUsageInputError } from '../common/usage.errors';
import type { UsageRecord, UsageRecordInput } from '../interfaces/usage-record.interface';

const MAX_ID_LENGTH = 128;
const MAX_METADATA_JSON = 16_384;
// Control characters in an attribution value are rejected: they break logs, CSV exports and keys.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function count(field: string, value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidUsageInputError(field, 'a non-negative integer (or null when unknown)', value);
  }
  return value;
}

function text(field: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ATTRIBUTION_LENGTH || CONTROL_CHARS.test(value)) {
    throw new InvalidUsageInputError(
      field,
      `a string of 1 to ${MAX_ATTRIBUTION_LENGTH} characters without control characters (or null)`,
      value,
    );
  }
  return value;
}

function instant(value: unknown): Date {
  if (value === undefined) return new Date();
  const d = value instanceof Date ? new Date(value.getTime()) : typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined;
  if (!d || isNaN(d.getTime())) {
    throw new InvalidUsageInputError('recordedAt', 'a valid Date, ISO 8601 string or epoch milliseconds', value);
  }
  return d;
}

/**
 * Builds a validated record; `fill` supplies attribution the input leaves out (no object spread:
 * this runs once per model call). Throws `InvalidUsageInputError` naming the first bad field; nothing is
 * stored in that case. Kept allocation-light: it runs on the agent's call path.
 */
/** Attribution used where the input leaves a field out (from the call chain). */
export interface UsageRecordFill {
  agentName: string | null;
  userId: string | null;
  group: string | null;
  chatName: string | null;
  providerName: string | null;
  modelName: string | null;
  metadata: Record<string, unknown> | null;
  /** The current run (from the call context). */
  runId?: string | null;
}

export function createUsageRecord(input: UsageRecordInput, fill?: UsageRecordFill): UsageRecord {
  if (input === null || typeof input !== 'object') throw new InvalidUsageInputError('record', 'an object', input);
  let id: string;
  if (input.id === undefined || input.id === null) id = randomUUID();
  else if (typeof input.id !== 'string' || input.id.length === 0 || input.id.length > MAX_ID_LENGTH || CONTROL_CHARS.test(input.id)) {
    throw new InvalidUsageInputError('id', `a string of 1 to ${MAX_ID_LENGTH} printable characters`, input.id);
  } else id = input.id;

  const inputTokens = count('inputTokens', input.inputTokens);
  const cachedInputTokens = count('cachedInputTokens', input.cachedInputTokens);
  const cacheWriteTokens = count('cacheWriteTokens', input.cacheWriteTokens);
  const outputTokens = count('outputTokens', input.outputTokens);
  const reasoningTokens = count('reasoningTokens', input.reasoningTokens);
  let totalTokens = count('totalTokens', input.totalTokens);
  if (inputTokens !== null && (cachedInputTokens ?? 0) + (cacheWriteTokens ?? 0) > inputTokens) {
    throw new InvalidUsageInputError(
      'cachedInputTokens',
      `at most inputTokens (${inputTokens}) together with cacheWriteTokens: inputTokens includes cache reads and writes`,
      (cachedInputTokens ?? 0) + (cacheWriteTokens ?? 0),
    );
  }
  if (outputTokens !== null && reasoningTokens !== null && reasoningTokens > outputTokens) {
    throw new InvalidUsageInputError('reasoningTokens', `at most outputTokens (${outputTokens}): outputTokens includes reasoning`, reasoningTokens);
  }
  if (totalTokens === null && inputTokens !== null && outputTokens !== null) totalTokens = inputTokens + outputTokens;

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
  if (input.usageMissing !== undefined && typeof input.usageMissing !== 'boolean') {
    throw new InvalidUsageInputError('usageMissing', 'a boolean', input.usageMissing);
  }
  if (input.runStart !== undefined && typeof input.runStart !== 'boolean') {
    throw new InvalidUsageInputError('runStart', 'a boolean', input.runStart);
  }
  if (input.agentRunStart !== undefined && typeof input.agentRunStart !== 'boolean') {
    throw new InvalidUsageInputError('agentRunStart', 'a boolean', input.agentRunStart);
  }
  const costNanoUsd = count('costNanoUsd', input.costNanoUsd);
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
    metadata = meta;
  }
  const usageMissing =
    input.usageMissing ?? (inputTokens === null && outputTokens === null && totalTokens === null);
  return {
    id,
    agentName: text('agentName', input.agentName ?? fill?.agentName),
    userId: text('userId', input.userId ?? fill?.userId),
    group: text('group', input.group ?? fill?.group),
    chatName: text('chatName', input.chatName ?? fill?.chatName),
    modelName: text('modelName', input.modelName ?? fill?.modelName),
    providerName: text('providerName', input.providerName ?? fill?.providerName),
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
    runStart: input.runStart ?? false,
    agentRunStart: input.agentRunStart ?? false,
    errorType: text('errorType', input.errorType),
    costNanoUsd,
    priceSource: text('priceSource', input.priceSource),
    recordedAt: instant(input.recordedAt),
    metadata,
  };
}
