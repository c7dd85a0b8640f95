/** PostgreSQL errors the driver tells apart: conflicts (retried here), outages (retried by the writer), refused data. */
/** Attempts of one write or clear when PostgreSQL aborts it as a deadlock victim or serialization failure. */
export const MAX_CONFLICT_ATTEMPTS = 5;
const CONFLICT_CODES = new Set(['40P01', '40001']);
/** Errors that mean "the server is not reachable now", as opposed to a configuration mistake. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P02', '57P03']);

const errorCode = (err: unknown): string | undefined => {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
};
export const isConflict = (err: unknown) => CONFLICT_CODES.has(errorCode(err) ?? '');
export function isConnectionError(err: unknown): boolean {
  const code = errorCode(err) ?? '';
  if (CONNECTION_CODES.has(code) || code.startsWith('08')) return true;
  return /connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Connection refused/i.test(String((err as Error)?.message));
}
/**
 * SQLSTATE classes that mean "this data is refused" (22 data exception, e.g. a date out of range or an
 * invalid JSON escape; 23 integrity constraint violation): retrying the same rows fails the same way.
 * Connection classes (08, 57P0x) and resources (53) are outages, retried; conflicts (40) are retried here.
 */
const DATA_ERROR_CLASSES = new Set(['22', '23']);

export function isDataError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && code.length === 5 && DATA_ERROR_CLASSES.has(code.slice(0, 2)) && !isConnectionError(error);
}

export function conflictBackoff(attempt: number): number {
  return 10 * 2 ** attempt + Math.floor(Math.random() * 25);
}
