import { createHash } from 'node:crypto';
import { IsBoolean, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, Matches, MaxLength, Min } from 'class-validator';
import type { UsageDataSource } from '../../interfaces/peer-types.interface';
import { InvalidUsageOptionsError, describe } from '../../common/usage.errors';

/** Table and schema names reach SQL text (quoted), so they are restricted to plain lower-case identifiers. */
export const SQL_IDENTIFIER_RE = /^[a-z_][a-z0-9_]{0,62}$/;
export const DEFAULT_USAGE_TABLE = 'agent_usage_records';
export const DEFAULT_ROLLUP_TABLE = 'agent_usage_daily';
/** The threshold job's de-dup table (`scheduler.alertsTable`). */
export const DEFAULT_ALERTS_TABLE = 'agent_usage_alerts';
/** The per-user rollup defaults to the daily rollup's name plus this suffix (`agent_usage_daily_users`). */
export const USER_ROLLUP_SUFFIX = '_users';
/** The hourly rollup defaults to the daily rollup's name plus this suffix (`agent_usage_daily_hours`). */
export const HOUR_ROLLUP_SUFFIX = '_hours';
/** The hourly totals per category: always the daily rollup's name plus this suffix (`agent_usage_daily_hour_totals`). */
export const HOUR_TOTAL_ROLLUP_SUFFIX = '_hour_totals';

/**
 * `database` section of the module options (or the argument of `new DatabaseUsageStorage(...)`).
 *
 * Which connection is used, first match wins:
 * 1. `dataSource`: a TypeORM DataSource you pass; initialized by the driver if needed, never destroyed by it.
 * 2. `url`: the driver creates its own DataSource (postgres) and destroys it on shutdown.
 * 3. otherwise the host app's DataSource from `TypeOrmModule.forRoot(...)`, named `connectionName`
 *    (the default connection when absent); never destroyed by the driver.
 */
export interface DatabaseStorageOptions {
  /** Name of the host's @nestjs/typeorm connection (`TypeOrmModule.forRoot({ name })`). Default: the default connection. */
  connectionName?: string;
  /** A TypeORM DataSource (postgres) to use instead of the host's. */
  dataSource?: UsageDataSource;
  /** `postgres://user:pass@host:5432/db`: the driver opens (and closes) its own pool. */
  url?: string;
  /** Ledger table, one row per record. Default `agent_usage_records`. */
  tableName?: string;
  /**
   * Daily rollup per (day, agent, group, model, provider): answers whole-day queries without a user filter.
   * Default `agent_usage_daily`.
   */
  rollupTableName?: string;
  /**
   * Daily rollup per (day, user, agent, model, provider): answers whole-day queries by user.
   * Default `<rollupTableName>_users` (`agent_usage_daily_users`).
   */
  userRollupTableName?: string;
  /**
   * Hourly rollup per (local hour, agent, model, provider, category): answers `groupBy('hour')` over whole
   * days. Default `<rollupTableName>_hours` (`agent_usage_daily_hours`).
   */
  hourRollupTableName?: string;
  /** PostgreSQL schema of the tables. Default: the connection's search_path (usually `public`). */
  schema?: string;
  /**
   * Create the tables and indexes at startup when missing (idempotent `IF NOT EXISTS` DDL, serialized
   * across processes with an advisory lock). Default: true for the driver's own `url` connection,
   * false for a host DataSource (add `createAgentUsageMigration()` to your migrations instead).
   */
  autoMigrate?: boolean;
  /**
   * Answer whole-day queries from the daily rollup tables instead of the ledger. Default true.
   * Turning it off never changes results, only speed.
   */
  useRollups?: boolean;
  /** `application_name` of the driver's own connections (shows in pg_stat_activity). Default `nestjs-agent-usage`. */
  applicationName?: string;
  /** Extra TypeORM DataSource options for the driver's own connection (ssl, poolSize, extra...). */
  connectionOptions?: Record<string, unknown>;
  /**
   * Monthly partitions of the ledger (by UTC month of recorded_at). `enabled` (default true) applies to a
   * ledger created by this version (an existing plain ledger is converted by
   * `PartitionAgentUsageLedger1797100000000`); the driver creates the previous month to `monthsAhead`
   * (default 2, 0-24) months ahead of the current one at boot and then hourly, and a DEFAULT partition
   * takes anything else.
   */
  partitioning?: { enabled?: boolean; monthsAhead?: number };
  /**
   * Ledger retention in whole UTC months: month partitions that ended more than this many months before
   * the current month are dropped (DROP TABLE, no DELETE), at boot and hourly. Needs a partitioned ledger.
   * Default: keep everything. The rollups keep their rows (see `rollupRetentionMonths`).
   */
  retentionMonths?: number;
  /**
   * Rollup retention in months, at least `retentionMonths`: rollup rows of days before the first day of
   * the month this many months before the current one are deleted. Default: keep everything.
   */
  rollupRetentionMonths?: number;
}

const IDENTIFIER_MESSAGE = (field: string) =>
  `${field} must be a lower-case SQL identifier matching ${SQL_IDENTIFIER_RE} (letters, digits, underscores; at most 63 characters)`;

/** Validates the `database` options section (the module registers it as a section validator). */
export class DatabaseStorageOptionsDto {
  @IsOptional() @IsString() @IsNotEmpty() connectionName?: string;
  @IsOptional() @IsObject({ message: 'dataSource must be a TypeORM DataSource instance' }) dataSource?: unknown;
  @IsOptional()
  @IsString()
  @Matches(/^postgres(ql)?:\/\//, { message: 'url must be a postgres:// or postgresql:// connection URL' })
  url?: string;
  @IsOptional() @IsString() @Matches(SQL_IDENTIFIER_RE, { message: IDENTIFIER_MESSAGE('tableName') }) tableName?: string;
  @IsOptional() @IsString() @Matches(SQL_IDENTIFIER_RE, { message: IDENTIFIER_MESSAGE('rollupTableName') }) rollupTableName?: string;
  @IsOptional()
  @IsString()
  @Matches(SQL_IDENTIFIER_RE, { message: IDENTIFIER_MESSAGE('userRollupTableName') })
  userRollupTableName?: string;
  @IsOptional()
  @IsString()
  @Matches(SQL_IDENTIFIER_RE, { message: IDENTIFIER_MESSAGE('hourRollupTableName') })
  hourRollupTableName?: string;
  @IsOptional() @IsString() @Matches(SQL_IDENTIFIER_RE, { message: IDENTIFIER_MESSAGE('schema') }) schema?: string;
  @IsOptional() @IsBoolean() autoMigrate?: boolean;
  @IsOptional() @IsBoolean() useRollups?: boolean;
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(63) applicationName?: string;
  @IsOptional() @IsObject() connectionOptions?: Record<string, unknown>;
  // The fields of `partitioning` and the months are checked by the driver (partitionOptionProblems).
  @IsOptional() @IsObject({ message: 'partitioning must be an object { enabled?, monthsAhead? }' }) partitioning?: Record<string, unknown>;
  @IsOptional() @IsInt({ message: 'retentionMonths must be a whole number of months (>= 1)' }) @Min(1, { message: 'retentionMonths must be >= 1' }) retentionMonths?: number;
  @IsOptional()
  @IsInt({ message: 'rollupRetentionMonths must be a whole number of months (>= 1)' })
  @Min(1, { message: 'rollupRetentionMonths must be >= 1' })
  rollupRetentionMonths?: number;
}

/** Table names as given (the user rollup's name is derived from the daily rollup's when absent). */
export interface UsageTableNames {
  tableName: string;
  rollupTableName: string;
  userRollupTableName?: string;
  hourRollupTableName?: string;
  /** The threshold job's de-dup table. Default `agent_usage_alerts` (the module takes `scheduler.alertsTable`). */
  alertsTableName?: string;
  schema?: string;
}

/** Table names with every default applied. */
export interface ResolvedUsageTableNames extends UsageTableNames {
  userRollupTableName: string;
  hourRollupTableName: string;
  /** Derived: `<rollupTableName>_hour_totals`. */
  hourTotalRollupTableName: string;
  alertsTableName: string;
}

/**
 * `<rollupTableName>_users`, shortened with a hash when that would pass PostgreSQL's 63-byte limit (which
 * would otherwise truncate it silently).
 */
export function defaultUserRollupTableName(rollupTableName: string, suffix = USER_ROLLUP_SUFFIX): string {
  const full = `${rollupTableName}${suffix}`;
  if (full.length <= 63) return full;
  const hash = createHash('sha1').update(rollupTableName).digest('hex').slice(0, 8);
  return `${rollupTableName.slice(0, 63 - suffix.length - 9)}_${hash}${suffix}`;
}

/** `<rollupTableName>_hours`, shortened the same way. */
export function defaultHourRollupTableName(rollupTableName: string): string {
  return defaultUserRollupTableName(rollupTableName, HOUR_ROLLUP_SUFFIX);
}

/** Problems with the names that reach SQL text (empty when fine), e.g. `tableName must be ...; got "x y"`. */
export function tableNameProblems(options: Partial<UsageTableNames>): string[] {
  const problems: string[] = [];
  for (const key of ['tableName', 'rollupTableName', 'userRollupTableName', 'hourRollupTableName', 'alertsTableName', 'schema'] as const) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'string' || !SQL_IDENTIFIER_RE.test(v))) {
      problems.push(`${IDENTIFIER_MESSAGE(key)}; got ${describe(v)}`);
    }
  }
  if (problems.length) return problems;
  const tableName = options.tableName ?? DEFAULT_USAGE_TABLE;
  const rollupTableName = options.rollupTableName ?? DEFAULT_ROLLUP_TABLE;
  const userRollupTableName = options.userRollupTableName ?? defaultUserRollupTableName(rollupTableName);
  if (tableName === rollupTableName) problems.push(`tableName and rollupTableName must differ; both are "${tableName}"`);
  if (userRollupTableName === tableName || userRollupTableName === rollupTableName) {
    problems.push(
      `userRollupTableName must differ from tableName and rollupTableName; it is "${userRollupTableName}"${
        options.userRollupTableName === undefined ? ` (the default, ${JSON.stringify(rollupTableName)} + "${USER_ROLLUP_SUFFIX}")` : ''
      }`,
    );
  }
  const hourRollupTableName = options.hourRollupTableName ?? defaultHourRollupTableName(rollupTableName);
  const hourTotalRollupTableName = defaultUserRollupTableName(rollupTableName, HOUR_TOTAL_ROLLUP_SUFFIX);
  if ([tableName, userRollupTableName, hourRollupTableName].includes(hourTotalRollupTableName)) {
    problems.push(`tableName, userRollupTableName and hourRollupTableName must differ from "${hourTotalRollupTableName}" (the hourly totals rollup: rollupTableName + "${HOUR_TOTAL_ROLLUP_SUFFIX}")`);
  }
  if ([tableName, rollupTableName, userRollupTableName].includes(hourRollupTableName)) {
    problems.push(
      `hourRollupTableName must differ from tableName, rollupTableName and userRollupTableName; it is "${hourRollupTableName}"${
        options.hourRollupTableName === undefined ? ` (the default, ${JSON.stringify(rollupTableName)} + "${HOUR_ROLLUP_SUFFIX}")` : ''
      }`,
    );
  }
  if (
    options.alertsTableName !== undefined &&
    [tableName, rollupTableName, userRollupTableName, hourRollupTableName, hourTotalRollupTableName].includes(options.alertsTableName)
  ) {
    problems.push(`alertsTableName must differ from the ledger and rollup tables; it is "${options.alertsTableName}"`);
  }
  return problems;
}

/**
 * Defaults and checks the table names. Checked here too (not only by the DTO) because the driver, the
 * migration and the query helpers can be used without the module's option validation.
 */
export function resolveTableNames(options: Partial<UsageTableNames> = {}): ResolvedUsageTableNames {
  const problems = tableNameProblems(options);
  if (problems.length) throw new InvalidUsageOptionsError(problems);
  const rollupTableName = options.rollupTableName ?? DEFAULT_ROLLUP_TABLE;
  return {
    tableName: options.tableName ?? DEFAULT_USAGE_TABLE,
    rollupTableName,
    userRollupTableName: options.userRollupTableName ?? defaultUserRollupTableName(rollupTableName),
    hourRollupTableName: options.hourRollupTableName ?? defaultHourRollupTableName(rollupTableName),
    hourTotalRollupTableName: defaultUserRollupTableName(rollupTableName, HOUR_TOTAL_ROLLUP_SUFFIX),
    alertsTableName: options.alertsTableName ?? DEFAULT_ALERTS_TABLE,
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
  };
}
