import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createAgentUsageMigration, type AgentUsageMigrationOptions } from './1795377442016-CreateAgentUsageTables';

const NAME = 'UpgradeAgentUsageCategories1796600000000';

/**
 * The categories upgrade for tables made by an earlier migration: the ledger gains `category` (NOT NULL
 * DEFAULT 'chat': every earlier row was a model call) and `units`, the daily rollups gain both and their
 * primary keys are rebuilt to include `category`, and the hourly rollup is created and filled from the
 * ledger in the rollups' time zone. It runs the driver's idempotent DDL (storage/database/schema), so it
 * is harmless where `autoMigrate` or a newer `createAgentUsageMigration` already did it.
 *
 * `down` refuses: an earlier version cannot write to rollups keyed by category, and collapsing the
 * categories back would need the ledger re-summed; restore a backup instead.
 */
export function createAgentUsageCategoriesMigration(options: AgentUsageMigrationOptions = {}): new () => MigrationInterface {
  const Base = createAgentUsageMigration({ ...options, name: options.name ?? NAME });
  return class extends Base {
    override async down(_queryRunner: QueryRunner): Promise<void> {
      throw new Error(`${NAME} cannot be reverted in place (rollup keys include category); restore a backup taken before it`);
    }
  };
}

/** The upgrade for the default table names. */
export class UpgradeAgentUsageCategories1796600000000 extends createAgentUsageCategoriesMigration() {}
