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
