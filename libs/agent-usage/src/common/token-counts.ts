import { InvalidUsageInputError } from './usage.errors';

/** A count (tokens, cost, requests): a non-negative safe integer, or null when unknown (undefined too). */
export function countOf(field: string, value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidUsageInputError(field, 'a non-negative integer of at most 2^53-1 (or null when unknown)', value);
  }
  return value;
}

/**
 * The counts of one call checked together (for records and for prices alike): `inputTokens` includes cache
 * reads and writes, `outputTokens` includes reasoning. Arguments, not an object: this runs once per record.
 */
export function assertTokenRelations(
  inputTokens: number | null,
  cachedInputTokens: number | null,
  cacheWriteTokens: number | null,
  outputTokens: number | null,
  reasoningTokens: number | null,
): void {
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
}
