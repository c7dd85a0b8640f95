import type { MigrationInterface, QueryRunner } from 'typeorm';
import { InvalidUsageOptionsError } from '../../../common/usage.errors';
import {
  DEFAULT_ALERTS_TABLE,
  DEFAULT_ROLLUP_TABLE,
  DEFAULT_USAGE_TABLE,
  defaultUserRollupTableName,
  resolveTableNames,
  type UsageTableNames,
} from '../database-storage.options';
import { qualifiedName, quoteIdent, type SqlQueryable } from '../usage-sql.builder';
import { createAgentUsageTables, dropAgentUsageTables } from '../schema/agent-usage.schema';
import { rollupComment } from '../schema/rollup.schema';
import { alertsLockKey, alertsTableSql } from '../schema/alerts.schema';

export { rebuildAgentUsageRollups } from '../schema/rollup.schema';

const MIGRATION_TIMESTAMP = 1795377442016;

export interface AgentUsageMigrationOptions extends Partial<UsageTableNames> {
  /** Time zone of the rollups' days, recorded on new rollup tables. Default `UTC` (match the module's `timeZone`). */
  timeZone?: string;
  /** Migration name (must end in a 13-digit timestamp). Default derived from the table names. */
  name?: string;
}

/** Runs `work` in the runner's transaction, or in one of its own (migrationsTransactionMode 'none', a hand-run migration). */
export async function inTransaction(queryRunner: QueryRunner, work: (q: SqlQueryable) => Promise<void>): Promise<void> {
  const own = !queryRunner.isTransactionActive;
  if (own) await queryRunner.startTransaction();
  try {
    await work(queryRunner);
    if (own) await queryRunner.commitTransaction();
  } catch (err) {
    if (own) await queryRunner.rollbackTransaction().catch(() => undefined);
    throw err;
  }
}

/**
 * A TypeORM migration class for the ledger, the two rollup tables and the alerts table with your names,
 * e.g. `migrations: [createAgentUsageMigration({ tableName: 'ai_usage' })]`. Its DDL is the driver's
 * (storage/database/schema) and idempotent, so it is harmless where `autoMigrate` already created the tables.
 */
export function createAgentUsageMigration(options: AgentUsageMigrationOptions = {}): new () => MigrationInterface {
  const names = resolveTableNames(options);
  const timeZone = options.timeZone ?? 'UTC';
  rollupComment(timeZone);
  const defaultUser = names.userRollupTableName === defaultUserRollupTableName(names.rollupTableName);
  const defaultAlerts = names.alertsTableName === DEFAULT_ALERTS_TABLE;
  const isDefault =
    !names.schema && names.tableName === DEFAULT_USAGE_TABLE && names.rollupTableName === DEFAULT_ROLLUP_TABLE && defaultUser && defaultAlerts;
  // TypeORM keys executed migrations by name: distinct table sets need distinct names (unchanged for
  // table sets named before the alerts table joined).
  const tables = [names.tableName, names.rollupTableName, ...(defaultUser ? [] : [names.userRollupTableName]), ...(defaultAlerts ? [] : [names.alertsTableName])].join('_');
  const name = options.name ?? `CreateAgentUsageTables${isDefault ? '' : `_${names.schema ? `${names.schema}_` : ''}${tables}_`}${MIGRATION_TIMESTAMP}`;
  if (!/\d{13}$/.test(name)) throw new InvalidUsageOptionsError([`migration name must end in a 13-digit timestamp; got "${name}"`]);
  return class implements MigrationInterface {
    readonly name = name;
    async up(queryRunner: QueryRunner): Promise<void> {
      // The advisory locks and the table lock need a transaction.
      await inTransaction(queryRunner, (q) => createAgentUsageTables(q, names, timeZone));
    }
    async down(queryRunner: QueryRunner): Promise<void> {
      await dropAgentUsageTables(queryRunner, names);
    }
  };
}

/**
 * Only the alerts table (the threshold job's de-dup store), for databases whose ledger and rollups an
 * earlier migration made: e.g. `createAgentUsageAlertsMigration({ alertsTableName: 'ai_alerts' })`.
 * Idempotent; `down` drops the alerts table alone.
 */
export function createAgentUsageAlertsMigration(
  options: Pick<AgentUsageMigrationOptions, 'alertsTableName' | 'schema' | 'name'> = {},
): new () => MigrationInterface {
  const { alertsTableName: table, schema } = resolveTableNames({ alertsTableName: options.alertsTableName, schema: options.schema });
  const name = options.name ?? (table === DEFAULT_ALERTS_TABLE && !schema ? 'CreateAgentUsageAlerts1796500000000' : `CreateAgentUsageAlerts_${schema ? `${schema}_` : ''}${table}_1796500000000`);
  if (!/\d{13}$/.test(name)) throw new InvalidUsageOptionsError([`migration name must end in a 13-digit timestamp; got "${name}"`]);
  return class implements MigrationInterface {
    readonly name = name;
    async up(queryRunner: QueryRunner): Promise<void> {
      await inTransaction(queryRunner, async (q) => {
        await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [alertsLockKey(table, schema)]);
        if (schema) await q.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
        for (const statement of alertsTableSql(table, schema)) await q.query(statement);
      });
    }
    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`DROP TABLE IF EXISTS ${qualifiedName(table, schema)}`);
    }
  };
}

/** The migration for the default table names (`agent_usage_records`, `agent_usage_daily`, `agent_usage_daily_users`, `agent_usage_alerts`, UTC days). */
export class CreateAgentUsageTables1795377442016 extends createAgentUsageMigration() {}

/**
 * The same idempotent DDL under a new name, for databases where `CreateAgentUsageTables1795377442016`
 * already ran (TypeORM runs a migration name once): adds the run and error columns to the ledger and the
 * run counters to the rollups. With other table names: `createAgentUsageMigration({ ...names, name:
 * 'UpgradeAgentUsageRuns1796400000000' })`.
 */
export class UpgradeAgentUsageRuns1796400000000 extends createAgentUsageMigration({ name: 'UpgradeAgentUsageRuns1796400000000' }) {}

/**
 * The alerts table for databases where the migrations above already ran, before they made it (until now
 * the threshold job created it at run time). Idempotent.
 */
export class CreateAgentUsageAlerts1796500000000 extends createAgentUsageAlertsMigration() {}
