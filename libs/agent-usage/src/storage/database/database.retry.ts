/** Conflict retries: `onRetry` is called once per retried deadlock / serialization failure (the driver counts them). */
import type { DataSource, QueryRunner } from 'typeorm';
import { sleep } from '../../common/sleep';
import { MAX_CONFLICT_ATTEMPTS, conflictBackoff, isConflict } from './database.errors';
import { rowsOf } from './usage-sql.rows';

/** Runs `work` in one transaction, retried a few times when PostgreSQL picks it as a deadlock victim. */
export async function transaction<T>(ds: DataSource, work: (q: QueryRunner) => Promise<T>, onRetry: () => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const q = ds.createQueryRunner();
    try {
      await q.connect();
      await q.startTransaction();
      const result = await work(q);
      await q.commitTransaction();
      return result;
    } catch (err) {
      if (q.isTransactionActive) await q.rollbackTransaction().catch(() => undefined);
      if (await backOffOnConflict(err, attempt, onRetry)) continue;
      throw err;
    } finally {
      await q.release().catch(() => undefined);
    }
  }
}

/** One statement (its own transaction), retried on deadlock / serialization failure. */
export async function statement(ds: DataSource, sql: string, params: unknown[], onRetry: () => void): Promise<Record<string, any>[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return rowsOf(await ds.query(sql, params));
    } catch (err) {
      if (await backOffOnConflict(err, attempt, onRetry)) continue;
      throw err;
    }
  }
}

/** A deadlock / serialization failure with attempts left: waits (growing, jittered) and says "retry". */
async function backOffOnConflict(err: unknown, attempt: number, onRetry: () => void): Promise<boolean> {
  if (attempt >= MAX_CONFLICT_ATTEMPTS || !isConflict(err)) return false;
  onRetry();
  await sleep(conflictBackoff(attempt));
  return true;
}
