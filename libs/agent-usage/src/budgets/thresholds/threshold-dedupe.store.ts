import type { UsageRedisCommands } from '../../connections/redis.connection';
import type { BudgetSqlClient, UsageBudgetCoordination } from '../budget-coordination';
import { ensureAlertsTableSql } from '../../storage/database/schema/alerts.schema';
import { qualifiedName } from '../../storage/database/usage-sql.builder';

/** One level of one budget x scope value x window. */
export interface ThresholdClaim {
  budget: string;
  value: string;
  windowStart: number;
  windowEnd: number;
  level: number;
  used: number;
}

/**
 * Decides which instance fires a level: `claim` is true exactly once per budget x value x window x level.
 * Claimed before delivery, so a level is delivered at most once (a crash right after the claim loses it).
 */
export interface ThresholdDedupeStore {
  readonly kind: 'redis' | 'database' | 'memory';
  init(): Promise<void>;
  claim(c: ThresholdClaim, nowMs: number): Promise<boolean>;
  /** Drops claims of long-past windows. */
  prune(nowMs: number): Promise<void>;
}

const keyOf = (c: ThresholdClaim) => `${encodeURIComponent(c.budget)}:${encodeURIComponent(c.value)}:${c.windowStart}:${c.level}`;

/** `SET key NX PX <window remaining>`: the key disappears when the window ends. */
export class RedisThresholdDedupe implements ThresholdDedupeStore {
  readonly kind = 'redis' as const;
  constructor(
    private readonly client: UsageRedisCommands,
    private readonly prefix: string,
  ) {}
  async init(): Promise<void> {}
  async claim(c: ThresholdClaim, nowMs: number): Promise<boolean> {
    const ttl = Math.max(1_000, c.windowEnd - nowMs);
    return (await this.client.set(`${this.prefix}fired:${keyOf(c)}`, String(nowMs), 'PX', ttl, 'NX')) === 'OK';
  }
  async prune(): Promise<void> {}
}

/**
 * `INSERT ... ON CONFLICT DO NOTHING RETURNING`: the row's primary key is the claim. The table is the
 * shipped migration's (storage/database/schema/alerts.schema.ts); created here when missing, with the
 * same DDL and lock, for apps whose migrations predate it or that never ran the driver's autoMigrate.
 */
export class SqlThresholdDedupe implements ThresholdDedupeStore {
  readonly kind = 'database' as const;
  private readonly table: string;
  constructor(
    private readonly sql: BudgetSqlClient,
    private readonly tableName: string,
  ) {
    // Both names were validated as plain identifiers; quoting keeps reserved words working.
    this.table = qualifiedName(tableName, sql.schema);
  }
  async init(): Promise<void> {
    const [row] = await this.sql.query<{ exists: boolean }>(`SELECT to_regclass($1::text) IS NOT NULL AS exists`, [this.table]);
    if (!row?.exists) await this.sql.query(ensureAlertsTableSql(this.tableName, this.sql.schema), []);
  }
  async claim(c: ThresholdClaim): Promise<boolean> {
    const rows = await this.sql.query(
      `INSERT INTO ${this.table} (budget_name, scope_value, window_start, level, window_end, used)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING level`,
      [c.budget, c.value, new Date(c.windowStart), c.level, new Date(c.windowEnd), String(c.used)],
    );
    return rows.length === 1;
  }
  async prune(nowMs: number): Promise<void> {
    await this.sql.query(`DELETE FROM ${this.table} WHERE window_end < $1`, [new Date(nowMs - 35 * 86_400_000)]);
  }
}

/** This process only: correct with ONE instance; several instances would each fire every level. */
export class MemoryThresholdDedupe implements ThresholdDedupeStore {
  readonly kind = 'memory' as const;
  private readonly fired = new Map<string, number>();
  async init(): Promise<void> {}
  async claim(c: ThresholdClaim): Promise<boolean> {
    const k = keyOf(c);
    if (this.fired.has(k)) return false;
    this.fired.set(k, c.windowEnd);
    return true;
  }
  async prune(nowMs: number): Promise<void> {
    for (const [k, end] of this.fired) if (end < nowMs) this.fired.delete(k);
  }
}

export function createThresholdDedupe(coordination: UsageBudgetCoordination, keyPrefix: string, alertsTable: string): ThresholdDedupeStore {
  if (coordination.redis) return new RedisThresholdDedupe(coordination.redis, keyPrefix);
  if (coordination.sql) return new SqlThresholdDedupe(coordination.sql, alertsTable);
  return new MemoryThresholdDedupe();
}
