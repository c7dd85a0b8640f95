/** Errors already recorded (or raised by a call guard): an error rethrown through nested tracked calls counts once. */
export const recordedErrors = new WeakSet<object>();

/** The class name of what was thrown (`RateLimitError`, `TypeError`), or its type for a non-object. */
export function errorTypeOf(err: unknown): string {
  const name = typeof err === 'object' && err !== null ? (err as { constructor?: { name?: unknown } }).constructor?.name : undefined;
  return typeof name === 'string' && name.length > 0 ? name.slice(0, 255) : typeof err;
}
