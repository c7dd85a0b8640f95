import { indexName, qualifiedName, quoteIdent } from '../usage-sql.builder';

/**
 * Attribution values are identifiers: compared as bytes (COLLATE "C"), which keeps every index insert,
 * lookup and sort of the write path off the database locale's comparison (measurably cheaper); equality
 * is the same under any deterministic collation.
 */
export const ATTRIBUTION = `varchar(255) COLLATE "C"`;
const TOKEN_SQL_COLUMNS = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens'];
/** Ledger columns added by the runs-and-failures upgrade. */
const RUN_LEDGER_COLUMNS = [
  'run_id varchar(255) COLLATE "C" NULL',
  'run_start boolean NOT NULL DEFAULT false',
  'agent_run_start boolean NOT NULL DEFAULT false',
  'error_type varchar(255) COLLATE "C" NULL',
];
/**
 * Ledger columns added by the categories upgrade: rows made before it were model calls ("chat", no units).
 * A constant default: no table rewrite.
 */
const CATEGORY_LEDGER_COLUMNS = [`category ${ATTRIBUTION} NOT NULL DEFAULT 'chat'`, 'units bigint NULL'];

/**
 * Idempotent DDL of the ledger, one row per record (`t` is a validated table name). Partitioned (the
 * default for new ledgers): by month on recorded_at, which must then be in the primary key, so ids are
 * unique per (record_id, recorded_at) (a replay of a record carries its original time: still stored once).
 * Indexes made on the partitioned table are made on every partition. The partitions themselves are
 * `ensurePartitions`' (ledger-partitions.ts). An existing ledger keeps its layout (`CREATE ... IF NOT
 * EXISTS`): the partitioning migration converts it.
 */
export function ledgerTableSql(t: string, schema: string | undefined, partitioned = true): string[] {
  const ledger = qualifiedName(t, schema);
  const idx = (suffix: string) => quoteIdent(indexName(t, suffix));
  return [
    `CREATE TABLE IF NOT EXISTS ${ledger} (
        record_id varchar(128) COLLATE "C" NOT NULL,
        agent_name ${ATTRIBUTION} NULL,
        user_id ${ATTRIBUTION} NULL,
        group_name ${ATTRIBUTION} NULL,
        chat_name ${ATTRIBUTION} NULL,
        model_name ${ATTRIBUTION} NULL,
        provider_name ${ATTRIBUTION} NULL,
        ${CATEGORY_LEDGER_COLUMNS.join(',\n        ')},
        ${TOKEN_SQL_COLUMNS.map((c) => `${c} bigint NULL`).join(',\n        ')},
        requests bigint NOT NULL DEFAULT 1,
        success boolean NOT NULL DEFAULT true,
        usage_missing boolean NOT NULL DEFAULT false,
        ${RUN_LEDGER_COLUMNS.join(',\n        ')},
        cost_nano_usd bigint NULL,
        price_source varchar(255) NULL,
        recorded_at timestamptz NOT NULL,
        metadata jsonb NULL,
        CONSTRAINT ${idx('pkey')} PRIMARY KEY (record_id${partitioned ? ', recorded_at' : ''})
      )${partitioned ? ' PARTITION BY RANGE (recorded_at)' : ''}`,
    `CREATE INDEX IF NOT EXISTS ${idx('agent_recorded_idx')} ON ${ledger} (agent_name, recorded_at)`,
    `CREATE INDEX IF NOT EXISTS ${idx('user_recorded_idx')} ON ${ledger} (user_id, recorded_at)`,
    `CREATE INDEX IF NOT EXISTS ${idx('model_recorded_idx')} ON ${ledger} (model_name, recorded_at)`,
    // Time ranges, and list()'s ORDER BY recorded_at DESC, record_id DESC (ties, rare, sorted after).
    `CREATE INDEX IF NOT EXISTS ${idx('recorded_idx')} ON ${ledger} (recorded_at)`,
    // Upgrade of a ledger made before runs and error types: existing rows are in no run, and succeeded
    // or failed without a recorded error class. Constant defaults: no table rewrite.
    `ALTER TABLE ${ledger} ${[...RUN_LEDGER_COLUMNS, ...CATEGORY_LEDGER_COLUMNS].map((c) => `ADD COLUMN IF NOT EXISTS ${c}`).join(', ')}`,
    // One run's records (filter by runId); most lookups are for recent runs, rows outside runs are left out.
    `CREATE INDEX IF NOT EXISTS ${idx('run_idx')} ON ${ledger} (run_id) WHERE run_id IS NOT NULL`,
  ];
}
