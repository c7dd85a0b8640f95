/** Base class of every error this library throws on purpose. */
export class UsageTrackingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A record, a filter or an argument is not what the API expects. `field` names it. */
export class InvalidUsageInputError extends UsageTrackingError {
  constructor(
    readonly field: string,
    readonly expected: string,
    readonly received?: unknown,
  ) {
    super(`Invalid usage input: "${field}" must be ${expected}; received ${describe(received)}.`);
  }
}

/** The module options are wrong; raised while the app boots. */
export class InvalidUsageOptionsError extends UsageTrackingError {
  constructor(readonly problems: string[]) {
    super(`Invalid UsageTrackingModule options:\n  - ${problems.join('\n  - ')}`);
  }
}

/** A driver name is used that was not configured. */
export class UnknownUsageStorageError extends UsageTrackingError {
  constructor(name: string, known: string[], where = '') {
    super(
      `Unknown usage storage "${name}"${where}: configured drivers are ${known.map((k) => `"${k}"`).join(', ') || 'none'}; built-in aliases are "memory", "file", "database", "cache".`,
    );
  }
}

export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value instanceof Date) return `Date(${isNaN(value.getTime()) ? 'Invalid' : value.toISOString()})`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  return `an object (${value.constructor?.name ?? 'Object'})`;
}

/** Aliases users reach for, e.g. LarAgent-style keys; `didYouMean` points them at ours. */
export const KEY_ALIASES: Readonly<Record<string, string>> = {
  agent: 'agentName',
  user: 'userId',
  user_id: 'userId',
  model: 'modelName',
  provider: 'providerName',
  chat: 'chatName',
  date_from: 'dateFrom',
  date_to: 'dateTo',
  input_tokens: 'inputTokens',
  output_tokens: 'outputTokens',
  prompt_tokens: 'inputTokens',
  completion_tokens: 'outputTokens',
  total_tokens: 'totalTokens',
  timestamp: 'recordedAt',
  createdAt: 'recordedAt',
};

/**
 * The error for a key that is not one of `known`: names it, lists what is accepted and suggests the
 * closest name (an alias, a case or plural slip, or one edit away). Shared by filters and records.
 */
export function unknownKeyError(field: string, key: string, known: Iterable<string>): InvalidUsageInputError {
  const names = [...known];
  const hint = KEY_ALIASES[key] && names.includes(KEY_ALIASES[key]) ? KEY_ALIASES[key] : closest(key, names);
  return new InvalidUsageInputError(field, `one of ${names.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}`, key);
}

function closest(key: string, names: string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const n of names) {
    const d = editDistance(k, n.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [n, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = up;
    }
  }
  return row[b.length];
}
