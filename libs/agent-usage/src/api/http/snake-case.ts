/**
 * The HTTP layer answers the service's objects with keys in snake_case: one deep conversion, so a field
 * added to an answer appears on the wire without touching a controller.
 */

/** `amountSpentExact` -> `amount_spent_exact`; keys without a lower-case letter (`LOW`, `P95`) stay. */
export function snakeKey(key: string): string {
  if (!/[a-z]/.test(key)) return key;
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

/** Values whose keys are the user's data (record metadata): copied as they are, never renamed. */
const OPAQUE_KEYS = new Set(['metadata']);

/** Deep copy with snake_case keys; Dates become ISO strings, bigints decimal strings. */
export function toSnakeCase(value: unknown): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toSnakeCase);
  if (typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    out[snakeKey(k)] = OPAQUE_KEYS.has(k) ? v : toSnakeCase(v);
  }
  return out;
}

/** Service field names (camelCase) whose query parameter is not their plain snake_case. */
const QUERY_NAMES: Readonly<Record<string, string>> = {
  agentName: 'agent',
  userId: 'user',
  modelName: 'model',
  providerName: 'provider',
};

/**
 * The query or body name of a field the service named: `startDate` -> `start_date`, `agentName` -> `agent`,
 * `alerts[0].percent` -> `alerts[0].percent`. Each dotted segment is converted.
 */
export function httpFieldName(field: string): string {
  return field
    .split('.')
    .map((segment) => {
      const m = /^([^[]*)(.*)$/.exec(segment)!;
      return (QUERY_NAMES[m[1]] ?? snakeKey(m[1])) + m[2];
    })
    .join('.');
}
