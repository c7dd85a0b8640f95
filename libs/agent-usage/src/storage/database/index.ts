/**
 * PostgreSQL storage (needs typeorm and pg; @nestjs/typeorm to use the host app's connection).
 * Import from here only in apps that have them installed.
 */
import './database.requirements';
export { DatabaseUsageStorage } from './database.storage';
export {
  DEFAULT_ROLLUP_TABLE,
  DEFAULT_USAGE_TABLE,
  DatabaseStorageOptionsDto,
  type DatabaseStorageOptions,
  type UsageTableNames,
} from './database-storage.options';
export { UsageRecordEntity, createUsageRecordEntity, type UsageRecordRow } from './usage-record.entity';
export {
  UsageDailyEntity,
  UsageDailyUserEntity,
  UsageHourTotalEntity,
  UsageHourlyEntity,
  createUsageDailyEntity,
  createUsageDailyUserEntity,
  createUsageHourTotalEntity,
  createUsageHourlyEntity,
  type UsageDailyRow,
  type UsageDailySums,
  type UsageDailyUserRow,
  type UsageHourTotalRow,
  type UsageHourlyRow,
} from './usage-daily.entity';
export {
  CreateAgentUsageAlerts1796500000000,
  CreateAgentUsageTables1795377442016,
  UpgradeAgentUsageRuns1796400000000,
  createAgentUsageAlertsMigration,
  createAgentUsageMigration,
  rebuildAgentUsageRollups,
  type AgentUsageMigrationOptions,
} from './migrations/1795377442016-CreateAgentUsageTables';
export { UpgradeAgentUsageCategories1796600000000, createAgentUsageCategoriesMigration } from './migrations/1796600000000-UpgradeAgentUsageCategories';
export {
  CreateAgentUsageRuntimeAlerts1797000000000,
  createAgentUsageRuntimeAlertsMigration,
  type AgentUsageRuntimeAlertsMigrationOptions,
} from './migrations/1797000000000-CreateAgentUsageRuntimeAlerts';
export { DEFAULT_RUNTIME_ALERTS_TABLE } from './schema/runtime-alerts.schema';
export { UsageQuery, usageQuery, type UsageQueryOptions } from './usage-query.helpers';
export {
  PartitionAgentUsageLedger1797100000000,
  createAgentUsagePartitionsMigration,
  type AgentUsagePartitionsMigrationOptions,
} from './migrations/1797100000000-PartitionAgentUsageLedger';
export type { MaintenanceResult } from './ledger-maintenance';
