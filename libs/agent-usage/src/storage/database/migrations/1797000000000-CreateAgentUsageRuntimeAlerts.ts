import type { MigrationInterface, QueryRunner } from 'typeorm';
import { InvalidUsageOptionsError } from '../../../common/usage.errors';
import { qualifiedName } from '../usage-sql.builder';
import { DEFAULT_RUNTIME_ALERTS_TABLE, createRuntimeAlertsTable } from '../schema/runtime-alerts.schema';

export interface AgentUsageRuntimeAlertsMigrationOptions {
  /** Default `agent_usage_runtime_alerts` (the module's `scheduler.runtimeAlertsTable`). */
  tableName?: string;
  schema?: string;
  /** Migration name (must end in a 13-digit timestamp). Default derived from the table name. */
  name?: string;
}

const TIMESTAMP = 1797000000000;
/** Names reach SQL text (quoted): plain lower-case identifiers only (as `scheduler.runtimeAlertsTable`). */
const IDENTIFIER_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The runtime alerts table (`UsageService.createAlert()`), for any database, new or migrated before it
 * existed: e.g. `createAgentUsageRuntimeAlertsMigration({ tableName: 'ai_runtime_alerts' })`. Idempotent
 * (the driver's schema setup and the first alert create the same table); `down` drops it.
 */
export function createAgentUsageRuntimeAlertsMigration(options: AgentUsageRuntimeAlertsMigrationOptions = {}): new () => MigrationInterface {
  const table = options.tableName ?? DEFAULT_RUNTIME_ALERTS_TABLE;
  const schema = options.schema;
  const problems: string[] = [];
  if (!IDENTIFIER_RE.test(table)) problems.push(`tableName must be a lower-case SQL identifier matching ${IDENTIFIER_RE}; got "${table}"`);
  if (schema !== undefined && !IDENTIFIER_RE.test(schema)) problems.push(`schema must be a lower-case SQL identifier matching ${IDENTIFIER_RE}; got "${schema}"`);
  const name = options.name ?? (table === DEFAULT_RUNTIME_ALERTS_TABLE && !schema ? `CreateAgentUsageRuntimeAlerts${TIMESTAMP}` : `CreateAgentUsageRuntimeAlerts_${schema ? `${schema}_` : ''}${table}_${TIMESTAMP}`);
  if (!/\d{13}$/.test(name)) problems.push(`migration name must end in a 13-digit timestamp; got "${name}"`);
  if (problems.length) throw new InvalidUsageOptionsError(problems);
  return class implements MigrationInterface {
    readonly name = name;
    async up(queryRunner: QueryRunner): Promise<void> {
      const own = !queryRunner.isTransactionActive;
      if (own) await queryRunner.startTransaction();
      try {
        await createRuntimeAlertsTable(queryRunner, table, schema);
        if (own) await queryRunner.commitTransaction();
      } catch (err) {
        if (own) await queryRunner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    }
    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(`DROP TABLE IF EXISTS ${qualifiedName(table, schema)}`);
    }
  };
}

/** The runtime alerts table with its default name; add it after the migrations you already run. */
export class CreateAgentUsageRuntimeAlerts1797000000000 extends createAgentUsageRuntimeAlertsMigration() {}
