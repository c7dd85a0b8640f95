import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import { resolveTableNames, type UsageTableNames } from './database-storage.options';
import { indexName } from './usage-sql.builder';

/**
 * A ledger row as TypeORM returns it. bigint columns come back as strings (exact); `recordedAt` is a Date.
 * Read records through `DatabaseUsageStorage` or `UsageQuery` to get `UsageRecord`s with numbers.
 */
export interface UsageRecordRow {
  recordId: string;
  agentName: string | null;
  userId: string | null;
  groupName: string | null;
  chatName: string | null;
  modelName: string | null;
  providerName: string | null;
  category: string;
  units: string | null;
  inputTokens: string | null;
  cachedInputTokens: string | null;
  cacheWriteTokens: string | null;
  outputTokens: string | null;
  reasoningTokens: string | null;
  totalTokens: string | null;
  requests: string;
  success: boolean;
  usageMissing: boolean;
  runId: string | null;
  runStart: boolean;
  agentRunStart: boolean;
  errorType: string | null;
  costNanoUsd: string | null;
  priceSource: string | null;
  recordedAt: Date;
  metadata: Record<string, unknown> | null;
}

const attribution = (name: string): EntitySchemaColumnOptions => ({ name, type: 'varchar', length: 255, nullable: true, collation: 'C' });
const count = (name: string): EntitySchemaColumnOptions => ({ name, type: 'bigint', nullable: true });

/**
 * The ledger table as a TypeORM entity, for hosts that want a Repository over it (reporting, exports).
 * The tables are created by the migration (or the driver's autoMigrate), never by `synchronize`; this
 * schema mirrors that DDL so `synchronize` or `migration:generate` see no difference.
 */
export function createUsageRecordEntity(
  options: Partial<UsageTableNames> & { entityName?: string } = {},
): EntitySchema<UsageRecordRow> {
  const { tableName, schema } = resolveTableNames(options);
  return new EntitySchema<UsageRecordRow>({
    name: options.entityName ?? (tableName === 'agent_usage_records' ? 'AgentUsageRecord' : `AgentUsageRecord_${tableName}`),
    tableName,
    schema,
    columns: {
      recordId: {
        name: 'record_id',
        type: 'varchar',
        length: 128,
        primary: true,
        collation: 'C',
        primaryKeyConstraintName: indexName(tableName, 'pkey'),
      },
      agentName: attribution('agent_name'),
      userId: attribution('user_id'),
      groupName: attribution('group_name'),
      chatName: attribution('chat_name'),
      modelName: attribution('model_name'),
      providerName: attribution('provider_name'),
      category: { name: 'category', type: 'varchar', length: 255, collation: 'C', default: 'chat' },
      units: count('units'),
      inputTokens: count('input_tokens'),
      cachedInputTokens: count('cached_input_tokens'),
      cacheWriteTokens: count('cache_write_tokens'),
      outputTokens: count('output_tokens'),
      reasoningTokens: count('reasoning_tokens'),
      totalTokens: count('total_tokens'),
      requests: { name: 'requests', type: 'bigint', default: 1 },
      success: { name: 'success', type: 'boolean', default: true },
      usageMissing: { name: 'usage_missing', type: 'boolean', default: false },
      runId: { name: 'run_id', type: 'varchar', length: 255, nullable: true, collation: 'C' },
      runStart: { name: 'run_start', type: 'boolean', default: false },
      agentRunStart: { name: 'agent_run_start', type: 'boolean', default: false },
      errorType: { name: 'error_type', type: 'varchar', length: 255, nullable: true, collation: 'C' },
      costNanoUsd: count('cost_nano_usd'),
      priceSource: { name: 'price_source', type: 'varchar', length: 255, nullable: true },
      // In the primary key: the ledger is partitioned by month on it (a plain ledger of an earlier version
      // is keyed by record_id alone; its ids are unique either way).
      recordedAt: { name: 'recorded_at', type: 'timestamptz', primary: true, primaryKeyConstraintName: indexName(tableName, 'pkey') },
      metadata: { name: 'metadata', type: 'jsonb', nullable: true },
    },
    indices: [
      { name: indexName(tableName, 'agent_recorded_idx'), columns: ['agentName', 'recordedAt'] },
      { name: indexName(tableName, 'user_recorded_idx'), columns: ['userId', 'recordedAt'] },
      { name: indexName(tableName, 'model_recorded_idx'), columns: ['modelName', 'recordedAt'] },
      { name: indexName(tableName, 'recorded_idx'), columns: ['recordedAt'] },
      { name: indexName(tableName, 'run_idx'), columns: ['runId'], where: 'run_id IS NOT NULL' },
    ],
  });
}

/** The ledger entity with the default table name `agent_usage_records`. */
export const UsageRecordEntity = createUsageRecordEntity();
