import type { BudgetConnections, BudgetRedisClient, BudgetSqlClient } from '../budget.connections';

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
    private readonly client: BudgetRedisClient,
    private readonly prefix: string,
  ) {}
  async init(): Promise<void> {}
  async claim(c: ThresholdClaim, nowMs: number): Promise<boolean> {
    const ttl = Math.max(1_000, c.windowEnd - nowMs);
    return (await this.client.set(`${this.prefix}fired:${keyOf(c)}`, String(nowMs), 'PX', ttl, 'NX')) === 'OK';
  }
  async prune(): Promise<void> {}
}

/** `INSERT ... ON CONFLICT DO NOTHING RETURNING`: the row's primary key is the claim. */
export class SqlThresholdDedupe implements ThresholdDedupeStore {
  readonly kind = 'database' as const;
  private readonly table: string;
  constructor(
    private readonly sql: BudgetSqlClient,
    tableName: string,
  ) {
    // Both names were validated as plain identifiers; quoting keeps reserved words working.
    this.table = sql.schema ? `"${sql.schema}"."${tableName}"` : `"${tableName}"`;
  }
  async init(): Promise<void> {
    try {
      await this.sql.query(
        `CREATE TABLE IF NOT EXISTS ${this.table} (
          budget_name text NOT NULL,
          scope_value text NOT NULL,
          window_start timestamptz NOT NULL,
          level integer NOT NULL,
          window_end timestamptz NOT NULL,
          used bigint NOT NULL,
          fired_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (budget_name, scope_value, window_start, level)
        )`,
        [],
      );
    } catch (e) {
      // Two instances creating the table at once: the loser sees a duplicate type/relation; the table exists.
      const code = (e as { code?: string }).code ?? (e as { driverError?: { code?: string } }).driverError?.code;
      if (code !== '23505' && code !== '42P07') throw e;
    }
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

export function createThresholdDedupe(connections: BudgetConnections, keyPrefix: string, alertsTable: string): ThresholdDedupeStore {
  if (connections.redis) return new RedisThresholdDedupe(connections.redis, keyPrefix);
  if (connections.sql) return new SqlThresholdDedupe(connections.sql, alertsTable);
  return new MemoryThresholdDedupe();
}
