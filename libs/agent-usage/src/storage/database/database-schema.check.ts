import type { DataSource } from 'typeorm';
import { InvalidUsageOptionsError } from '../../common/usage.errors';
import { isUtc } from '../../query/time-zone';
import type { DatabaseStorageOptions, ResolvedUsageTableNames } from './database-storage.options';
import type { RollupLayout } from './usage-sql.builder';
import { rowsOf } from './usage-sql.rows';

/**
 * Without autoMigrate: checks that the ledger and every rollup exist in this version's shape, else throws
 * naming the migration to add (missing tables, an earlier version's wide rollup, tables made before runs
 * or before categories).
 */
export async function assertTablesReady(
  ds: DataSource,
  ledger: string,
  rollupTable: ReadonlyMap<RollupLayout, string>,
  names: ResolvedUsageTableNames,
  options: DatabaseStorageOptions,
): Promise<void> {
  const [rollup, userRollup, hourRollup, hourTotalRollup] = [...rollupTable.values()];
  const [row] = rowsOf(
    await ds.query(
      `SELECT to_regclass($1::text) IS NOT NULL AS ledger, to_regclass($2::text) IS NOT NULL AS rollup,
         to_regclass($3::text) IS NOT NULL AS user_rollup,
         to_regclass($4::text) IS NOT NULL AND to_regclass($5::text) IS NOT NULL AS hour_rollup,
         (SELECT count(*) FROM pg_attribute WHERE NOT attisdropped AND attname = 'category'
           AND attrelid IN (to_regclass($1::text), to_regclass($2::text), to_regclass($3::text)))::int = 3
         AND (SELECT count(*) FROM pg_index WHERE indisprimary AND indrelid IN (to_regclass($2::text), to_regclass($3::text))
           AND pg_get_indexdef(indexrelid) LIKE '%, category)')::int = 2 AS categories,
         EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($2::text) AND attname = 'user_id' AND NOT attisdropped) AS wide,
         (SELECT count(*) FROM pg_attribute WHERE NOT attisdropped AND (
           (attrelid = to_regclass($1::text) AND attname = 'run_id') OR
           (attrelid IN (to_regclass($2::text), to_regclass($3::text)) AND attname = 'agent_run_count')))::int = 3 AS runs`,
      [ledger, rollup, userRollup, hourRollup, hourTotalRollup],
    ),
  );
  // An earlier version's wide rollup comes with no user rollup: say "upgrade", not "missing".
  const wide = row?.ledger && row?.wide;
  const missing = !row?.ledger ? ledger : wide ? null : !row?.rollup ? rollup : !row?.user_rollup ? userRollup : null;
  // Tables made before runs and error types: every write would fail on the missing columns.
  const old = !missing && !wide && !row?.runs;
  // Tables made before categories (no category column or key, no hourly rollup): writes would fail too.
  const uncategorized = !missing && !wide && !old && (!row?.categories || !row?.hour_rollup);
  if (missing || wide || old || uncategorized) {
    const migration = `createAgentUsageMigration(${JSON.stringify({
      tableName: names.tableName,
      rollupTableName: names.rollupTableName,
      ...(options.userRollupTableName ? { userRollupTableName: names.userRollupTableName } : {}),
      ...(options.hourRollupTableName ? { hourRollupTableName: names.hourRollupTableName } : {}),
      ...(names.schema ? { schema: names.schema } : {}),
    })})`;
    throw new InvalidUsageOptionsError([
      missing
        ? `database: table ${missing} does not exist. Add ${migration} to your TypeORM migrations, or set database.autoMigrate: true`
        : old
          ? `database: ${ledger} and its rollups predate runs and error types (no run_id / run_count columns). ` +
            `Add UpgradeAgentUsageRuns1796400000000 to your TypeORM migrations (other table names: ${migration.replace(/\}\)$/, `,"name":"UpgradeAgentUsageRuns1796400000000"})`)}), ` +
            `or set database.autoMigrate: true: either adds them in place (no table rewrite)`
          : uncategorized
            ? `database: ${ledger} and its rollups predate categories (no category / units columns, no hourly rollups ${hourRollup}, ${hourTotalRollup}). ` +
              `Add UpgradeAgentUsageCategories1796600000000 to your TypeORM migrations (other table names: ${migration.replace(/\}\)$/, `,"name":"UpgradeAgentUsageCategories1796600000000"})`)}), ` +
              `or set database.autoMigrate: true: either adds them in place ("chat" for existing rows), widens the rollups' keys and fills the hourly rollups from the ledger`
          : `database: ${rollup} is the daily rollup of an earlier version (keyed by user too). Run ${migration} again ` +
          `(under a new name: { name: 'UpgradeAgentUsageRollups<13-digit timestamp>' }), or set database.autoMigrate: true: ` +
          `either replaces it by the two narrower rollups, filled from the ledger`,
    ]);
  }
}

/** Whether two time zone names keep the same days (any spelling of UTC is UTC). */
export function sameZone(a: string, b: string): boolean {
  return a === b || (isUtc(a) && isUtc(b));
}
