import type { BudgetSqlClient } from '../budget-coordination';
import { qualifiedName } from '../../storage/database/usage-sql.builder';
import { ensureRuntimeAlertsTableSql } from '../../storage/database/schema/runtime-alerts.schema';
import type { RuntimeAlertStore, StoredUsageAlert } from './runtime-alert.store';
import type { UsageAlertInput } from './runtime-alert.interface';

const UNDEFINED_TABLE = '42P01';
const codeOf = (e: unknown) => (e as { code?: string; driverError?: { code?: string } })?.code ?? (e as { driverError?: { code?: string } })?.driverError?.code;

interface AlertRow {
  id: string;
  definition: UsageAlertInput | string;
  created_at: Date | string;
  paused_until: Date | string | null;
}

/**
 * Runtime alerts in PostgreSQL (the table of `createAgentUsageRuntimeAlertsMigration()` and of the driver's
 * schema setup). A missing table reads as no alerts, and is created (under its advisory lock) by the first
 * alert, so apps that never make one get no table from this store.
 */
export class SqlRuntimeAlertStore implements RuntimeAlertStore {
  readonly kind = 'database' as const;
  private readonly table: string;
  private ensured: Promise<void> | null = null;

  constructor(
    private readonly sql: BudgetSqlClient,
    private readonly tableName: string,
  ) {
    this.table = qualifiedName(tableName, sql.schema);
  }

  async list(): Promise<StoredUsageAlert[]> {
    let rows: AlertRow[];
    try {
      rows = await this.sql.query<AlertRow>(`SELECT id, definition, created_at, paused_until FROM ${this.table} ORDER BY created_at, id`, []);
    } catch (e) {
      if (codeOf(e) === UNDEFINED_TABLE) return [];
      throw e;
    }
    return rows.map((r) => ({
      id: r.id,
      input: typeof r.definition === 'string' ? (JSON.parse(r.definition) as UsageAlertInput) : r.definition,
      createdAt: new Date(r.created_at),
      pausedUntil: r.paused_until === null ? null : new Date(r.paused_until).getTime(),
    }));
  }

  async insert(a: StoredUsageAlert): Promise<void> {
    this.ensured ??= this.sql.query(ensureRuntimeAlertsTableSql(this.tableName, this.sql.schema), []).then(
      () => undefined,
      (e) => {
        this.ensured = null;
        throw e;
      },
    );
    await this.ensured;
    await this.sql.query(`INSERT INTO ${this.table} (id, definition, created_at, paused_until) VALUES ($1, $2::jsonb, $3, $4)`, [
      a.id,
      JSON.stringify(a.input),
      a.createdAt,
      a.pausedUntil === null ? null : new Date(a.pausedUntil),
    ]);
  }

  async remove(id: string): Promise<boolean> {
    try {
      return (await this.affected(`DELETE FROM ${this.table} WHERE id = $1 RETURNING id`, [id])) === 1;
    } catch (e) {
      if (codeOf(e) === UNDEFINED_TABLE) return false;
      throw e;
    }
  }

  async pause(id: string, untilMs: number): Promise<boolean> {
    return (await this.affected(`UPDATE ${this.table} SET paused_until = GREATEST(COALESCE(paused_until, $2), $2) WHERE id = $1 RETURNING id`, [id, new Date(untilMs)])) === 1;
  }

  /** Rows a DELETE/UPDATE touched, read through a CTE: TypeORM shapes the results of those two statements its own way. */
  private async affected(statement: string, params: unknown[]): Promise<number> {
    const [row] = await this.sql.query<{ n: number }>(`WITH changed AS (${statement}) SELECT count(*)::int AS n FROM changed`, params);
    return row?.n ?? 0;
  }
}
