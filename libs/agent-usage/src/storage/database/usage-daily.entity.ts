import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import { resolveTableNames, type UsageTableNames } from './database-storage.options';
import { indexName } from './usage-sql.builder';

/** The sums every daily rollup row holds (bigint columns come back as strings: exact). */
export interface UsageDailySums {
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
  /** Records that started a run (see UsageTotals.runCount). */
  runCount: string;
  agentRunCount: string;
  /** Units of per-unit operations. */
  units: string;
}

/**
 * A row of the daily rollup (`rollupTableName`): sums of the ledger per day (in the module's time zone),
 * agent, group, model and provider. Key columns hold '' where the records' attribution is null (a primary
 * key cannot hold NULL).
 */
export interface UsageDailyRow extends UsageDailySums {
  day: string;
  agentName: string;
  groupName: string;
  modelName: string;
  providerName: string;
  /** "chat" for model calls. */
  category: string;
}

/** A row of the per-user daily rollup (`userRollupTableName`): sums per day, user, agent, model and provider. */
export interface UsageDailyUserRow extends UsageDailySums {
  day: string;
  userId: string;
  agentName: string;
  modelName: string;
  providerName: string;
  /** "chat" for model calls. */
  category: string;
}

const key = (name: string, pk: string, defaultValue = ''): EntitySchemaColumnOptions => ({
  name,
  type: 'varchar',
  length: 255,
  collation: 'C',
  primary: true,
  default: defaultValue,
  primaryKeyConstraintName: pk,
});
const sum = (name: string): EntitySchemaColumnOptions => ({ name, type: 'bigint', default: 0 });
const SUMS = {
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
  runCount: sum('run_count'),
  agentRunCount: sum('agent_run_count'),
  units: sum('units'),
} satisfies Record<keyof UsageDailySums, EntitySchemaColumnOptions>;

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
      agentName: key('agent_name', pk),
      groupName: key('group_name', pk),
      modelName: key('model_name', pk),
      providerName: key('provider_name', pk),
      category: key('category', pk, 'chat'),
      ...SUMS,
    },
    indices: [{ name: indexName(rollupTableName, 'agent_day_idx'), columns: ['agentName', 'day'] }],
  });
}

/** The per-user daily rollup table as a TypeORM entity (read-only for hosts: the driver maintains it). */
export function createUsageDailyUserEntity(
  options: Partial<UsageTableNames> & { entityName?: string } = {},
): EntitySchema<UsageDailyUserRow> {
  const { userRollupTableName, schema } = resolveTableNames(options);
  const pk = indexName(userRollupTableName, 'pkey');
  return new EntitySchema<UsageDailyUserRow>({
    name:
      options.entityName ??
      (userRollupTableName === 'agent_usage_daily_users' ? 'AgentUsageDailyUser' : `AgentUsageDailyUser_${userRollupTableName}`),
    tableName: userRollupTableName,
    schema,
    columns: {
      day: { name: 'day', type: 'date', primary: true, primaryKeyConstraintName: pk },
      userId: key('user_id', pk),
      agentName: key('agent_name', pk),
      modelName: key('model_name', pk),
      providerName: key('provider_name', pk),
      category: key('category', pk, 'chat'),
      ...SUMS,
    },
    indices: [{ name: indexName(userRollupTableName, 'user_day_idx'), columns: ['userId', 'day'] }],
  });
}

/** A row of the hourly rollup (`hourRollupTableName`): sums per local hour, agent, model, provider and category. */
export interface UsageHourlyRow extends UsageDailySums {
  /** The wall-clock hour in the rollup's time zone (a `timestamp` without zone). */
  hour: Date;
  agentName: string;
  modelName: string;
  providerName: string;
  category: string;
}

/** The hourly rollup table as a TypeORM entity (read-only for hosts: the driver maintains it). */
export function createUsageHourlyEntity(options: Partial<UsageTableNames> & { entityName?: string } = {}): EntitySchema<UsageHourlyRow> {
  const { hourRollupTableName, schema } = resolveTableNames(options);
  const pk = indexName(hourRollupTableName, 'pkey');
  return new EntitySchema<UsageHourlyRow>({
    name: options.entityName ?? (hourRollupTableName === 'agent_usage_daily_hours' ? 'AgentUsageHourly' : `AgentUsageHourly_${hourRollupTableName}`),
    tableName: hourRollupTableName,
    schema,
    columns: {
      hour: { name: 'hour', type: 'timestamp', primary: true, primaryKeyConstraintName: pk },
      agentName: key('agent_name', pk),
      modelName: key('model_name', pk),
      providerName: key('provider_name', pk),
      category: key('category', pk, 'chat'),
      ...SUMS,
    },
    indices: [{ name: indexName(hourRollupTableName, 'agent_hour_idx'), columns: ['agentName', 'hour'] }],
  });
}

/** The rollup entity with the default table name `agent_usage_daily`. */
export const UsageDailyEntity = createUsageDailyEntity();
/** The per-user rollup entity with the default table name `agent_usage_daily_users`. */
export const UsageDailyUserEntity = createUsageDailyUserEntity();
/** The hourly rollup entity with the default table name `agent_usage_daily_hours`. */
export const UsageHourlyEntity = createUsageHourlyEntity();
