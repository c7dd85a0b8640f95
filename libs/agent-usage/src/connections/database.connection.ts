import { Logger, type LoggerService, type OnApplicationShutdown } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
// Structural types only: typeorm is an optional peer, required at run time for `url` alone.
import type { UsageDataSource } from '../interfaces/peer-types.interface';
import type { DatabaseStorageOptions } from '../storage/database/database-storage.options';
import { assertPackagesFor } from '../common/optional-packages';
import { InvalidUsageOptionsError } from '../common/usage.errors';

/** What the library uses of a TypeORM DataSource beyond `UsageDataSource`. */
export interface UsageDataSourceHandle extends UsageDataSource {
  destroy(): Promise<void>;
}

/** Where the connection comes from, first match wins: `dataSource`, `url`, else the host's TypeOrmModule. */
export type UsageDatabaseSource = 'dataSource' | 'url' | 'host';

/**
 * Owns the one PostgreSQL connection of a `database` options section, shared by the database driver,
 * budgets and the threshold job. Opened on first use (a failed attempt is retried by the next call);
 * destroyed on shutdown only when it was created here (`url`), never a host's DataSource.
 */
export class UsageDatabaseConnection implements OnApplicationShutdown {
  readonly source: UsageDatabaseSource;
  private dataSource: UsageDataSourceHandle | null = null;
  private opening: Promise<UsageDataSourceHandle> | null = null;
  private owned = false;
  private closed = false;

  constructor(
    private readonly options: DatabaseStorageOptions = {},
    private readonly moduleRef?: ModuleRef,
    private readonly logger: LoggerService = new Logger('UsageTracking'),
  ) {
    this.source = options.dataSource ? 'dataSource' : options.url ? 'url' : 'host';
  }

  /** Schema of the tables (`database.schema`), when set. */
  get schema(): string | undefined {
    return typeof this.options.schema === 'string' ? this.options.schema : undefined;
  }

  /** True when `url` or `dataSource` is set (the host's connection may exist all the same: see `available`). */
  get configured(): boolean {
    return this.source !== 'host';
  }

  /** The DataSource, initialized. */
  get(): Promise<UsageDataSourceHandle> {
    if (this.closed) return Promise.reject(new Error('the usage PostgreSQL connection is closed'));
    if (this.dataSource) return Promise.resolve(this.dataSource);
    this.opening ??= this.open().finally(() => (this.opening = null));
    return this.opening;
  }

  /**
   * Whether there is a PostgreSQL connection to use, without opening it (a server down at boot must not
   * stop the app): `url` or `dataSource`, or the host's initialized PostgreSQL DataSource. A host
   * DataSource of another kind is logged.
   */
  available(): boolean {
    if (this.configured) return true;
    const ds = this.hostDataSource(false);
    if (!ds) return false;
    if (ds.isInitialized && ds.options?.type === 'postgres') return true;
    this.logger.warn(`the host TypeORM DataSource is not an initialized PostgreSQL connection: budgets coordinate without it`);
    return false;
  }

  /** Rows of one parameterized statement (opens the connection on first use). */
  async query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await (await this.get()).query(sql, params)) as R[];
  }

  private async open(): Promise<UsageDataSourceHandle> {
    const ds = this.source === 'dataSource' ? (this.options.dataSource as UsageDataSourceHandle) : this.source === 'url' ? this.create() : this.hostDataSource(true)!;
    assertPostgres(ds);
    if (this.source === 'host' && !ds.isInitialized) throw new Error(`the ${hostLabel(this.options.connectionName)} is not initialized`);
    // A DataSource passed in is initialized for its owner if needed, but never destroyed here.
    if (!ds.isInitialized) await ds.initialize();
    if (this.source === 'url') {
      this.owned = true;
      guardPoolClients(ds);
    }
    if (this.closed) {
      if (this.owned) await ds.destroy().catch(() => undefined);
      throw new Error('the usage PostgreSQL connection is closed');
    }
    this.dataSource = ds;
    return ds;
  }

  private create(): UsageDataSourceHandle {
    assertPackagesFor('databaseUrl');
    const o = this.options;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DataSource } = require('typeorm') as { DataSource: new (options: object) => UsageDataSourceHandle };
    const extra = { keepAlive: true, query_timeout: 120_000, ...((o.connectionOptions?.extra as object) ?? {}) };
    return new DataSource({
      type: 'postgres',
      url: o.url,
      applicationName: o.applicationName ?? 'nestjs-agent-usage',
      poolSize: 4,
      connectTimeoutMS: 10_000,
      synchronize: false,
      migrationsRun: false,
      entities: [],
      logging: false,
      ...o.connectionOptions,
      extra,
    });
  }

  /** The host's DataSource from `TypeOrmModule.forRoot({ name: connectionName })`; `required` throws when absent. */
  private hostDataSource(required: boolean): UsageDataSourceHandle | null {
    const name = this.options.connectionName;
    const fix = `import TypeOrmModule.forRoot({ type: 'postgres', ...${name ? `, name: '${name}'` : ''} }) in your app, or set database.url or database.dataSource`;
    let getDataSourceToken: (name?: string) => unknown;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      ({ getDataSourceToken } = require('@nestjs/typeorm'));
    } catch {
      if (!required) return null;
      throw new InvalidUsageOptionsError([`database: the ${hostLabel(name)} needs @nestjs/typeorm, which is not installed; ${fix}`]);
    }
    let ds: UsageDataSourceHandle | undefined;
    try {
      ds = this.moduleRef?.get(getDataSourceToken(name) as string, { strict: false }) as UsageDataSourceHandle | undefined;
    } catch {
      ds = undefined;
    }
    if (!ds && required) throw new InvalidUsageOptionsError([`database: no ${hostLabel(name)} found; ${fix}`]);
    return ds ?? null;
  }

  /** After every onModuleDestroy (writers drained, the job's last run done): only then close. */
  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  /** Destroys the DataSource only when it was created here (from `url`). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    const ds = this.dataSource;
    this.dataSource = null;
    if (ds && this.owned && ds.isInitialized) await ds.destroy();
  }
}

function hostLabel(name: string | undefined): string {
  return name ? `TypeORM DataSource "${name}"` : 'default TypeORM DataSource';
}

function assertPostgres(ds: UsageDataSource): void {
  const type = (ds.options as { type?: unknown } | undefined)?.type;
  if (type !== 'postgres') throw new InvalidUsageOptionsError([`database: the usage driver needs a postgres DataSource; got type ${JSON.stringify(type)}`]);
}

/**
 * pg-pool removes its error listener from a client before handing it out, and TypeORM attaches its own
 * a microtask later: a FATAL message (server restart, pg_terminate_backend) that arrives in that gap
 * is emitted with no listener and crashes the process. On our own pool, give every client a permanent
 * listener; the failure still reaches the query (the caller retries it) and the pool drops the client.
 * The host's pool is left alone.
 */
type Listenable = { on?: (event: string, listener: (...args: unknown[]) => void) => unknown };
function guardPoolClients(ds: UsageDataSource): void {
  const pool = (ds as unknown as { driver?: { master?: Listenable & { _clients?: Listenable[] } } }).driver?.master;
  if (!pool || typeof pool.on !== 'function') return;
  const guard = (client: unknown) => (client as Listenable | undefined)?.on?.('error', ignoreClientError);
  pool.on('connect', guard);
  for (const client of pool._clients ?? []) guard(client);
}
const ignoreClientError = () => undefined;
