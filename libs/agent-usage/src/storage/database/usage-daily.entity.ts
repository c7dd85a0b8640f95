import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import { resolveTableNames, type UsageTableNames } from './database-storage.options';
import { indexName } from './usage-sql.builder';

/**
 * A daily rollup row: sums of the ledger per day (in the module's time zone) and attribution key.
 * Key columns hold '' where the records' attribution is null (a primary key cannot hold NULL).
 */
export interface UsageDailyRow {
  day: string;
  agentName: string;
  userId: string;
  groupName: string;
  modelName: string;
  providerName: string;
  recordCount: string;
  requests: string;
  inputTokens: string;
  cachedInputTokens: string;
  cacheWriteTokens: string;
  outputTokens: string;
  reasoningTokens: string;
  totalTokens: string;
  failedCount: string;
  usageMissingCount: string;
  costNanoUsd: string;
  unpricedCount: string;
}

const key = (name: string): EntitySchemaColumnOptions => ({ name, type: 'varchar', length: 255, primary: true, default: '' });
const sum = (name: string): EntitySchemaColumnOptions => ({ name, type: 'bigint', default: 0 });

/** The daily rollup table as a TypeORM entity (read-only for hosts: the driver maintains it). */
export function createUsageDailyEntity(
  options: Partial<UsageTableNames> & { entityName?: string } = {},
): EntitySchema<UsageDailyRow> {
  const { rollupTableName, schema } = resolveTableNames(options);
  const pk = indexName(rollupTableName, 'pkey');
  return new EntitySchema<UsageDailyRow>({
    name: options.entityName ?? (rollupTableName === 'agent_usage_daily' ? 'AgentUsageDaily' : `AgentUsageDaily_${rollupTableName}`),
    tableName: rollupTableName,
    schema,
    columns: {
      day: { name: 'day', type: 'date', primary: true, primaryKeyConstraintName: pk },
      agentName: { ...key('agent_name'), primaryKeyConstraintName: pk },
      userId: { ...key('user_id'), primaryKeyConstraintName: pk },
      groupName: { ...key('group_name'), primaryKeyConstraintName: pk },
      modelName: { ...key('model_name'), primaryKeyConstraintName: pk },
      providerName: { ...key('provider_name'), primaryKeyConstraintName: pk },
      recordCount: sum('record_count'),
      requests: sum('requests'),
      inputTokens: sum('input_tokens'),
      cachedInputTokens: sum('cached_input_tokens'),
      cacheWriteTokens: sum('cache_write_tokens'),
      outputTokens: sum('output_tokens'),
      reasoningTokens: sum('reasoning_tokens'),
      totalTokens: sum('total_tokens'),
      failedCount: sum('failed_count'),
      usageMissingCount: sum('usage_missing_count'),
      costNanoUsd: sum('cost_nano_usd'),
      unpricedCount: sum('unpriced_count'),
    },
    indices: [
      { name: indexName(rollupTableName, 'agent_day_idx'), columns: ['agentName', 'day'] },
      { name: indexName(rollupTableName, 'user_day_idx'), columns: ['userId', 'day'] },
      { name: indexName(rollupTableName, 'model_day_idx'), columns: ['modelName', 'day'] },
    ],
  });
}

/** The rollup entity with the default table name `agent_usage_daily`. */
export const UsageDailyEntity = createUsageDailyEntity();
