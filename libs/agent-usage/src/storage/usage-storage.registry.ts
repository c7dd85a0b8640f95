import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { UsageStorage, UsageStorageSpec, UsageStorageStats } from '../interfaces/usage-storage.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import { DEFAULT_STORAGE, STORAGE_ALIASES, USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { UnknownUsageStorageError } from '../common/usage.errors';
import { assertPackagesFor } from '../common/optional-packages';
import { MemoryUsageStorage } from './memory/memory.storage';
import { FileUsageStorage } from './file/file.storage';
import { DEFAULT_WRITER_OPTIONS, UsageStorageWriter } from './usage-storage.writer';
import { defaultSpoolRoot } from './usage-spool.location';
import { getUsageConnectionToken } from '../connections/usage-connection.tokens';
import type { UsageDatabaseConnection } from '../connections/database.connection';
import type { UsageRedisConnection } from '../connections/redis.connection';

type Alias = (typeof STORAGE_ALIASES)[number];

/** The module's connection owners, handed to the drivers that use them. */
interface UsageConnectionOwners {
  database: UsageDatabaseConnection;
  redis: UsageRedisConnection;
}

/** Built-in drivers; database and cache are required lazily so apps without typeorm/ioredis still load. */
function createAlias(alias: Alias, options: UsageTrackingModuleOptions, connections: UsageConnectionOwners): UsageStorage {
  switch (alias) {
    case 'memory':
      return new MemoryUsageStorage(options.memory);
    case 'file':
      return new FileUsageStorage(options.file);
    case 'database': {
      const db = options.database ?? {};
      assertPackagesFor(db.dataSource ? 'databaseDataSource' : db.url ? 'databaseUrl' : 'databaseHost');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { DatabaseUsageStorage } = require('./database/database.storage');
      return new DatabaseUsageStorage(options.database, connections.database);
    }
    case 'cache': {
      assertPackagesFor('cache');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { CacheUsageStorage } = require('./cache/cache.storage');
      return new CacheUsageStorage(options.cache, connections.redis);
    }
  }
}

/** The name a driver spec is known by: its alias, or its class name. */
export function storageNameOf(spec: UsageStorageSpec): string {
  if (typeof spec === 'string') return spec;
  if (typeof spec === 'function') return spec.name;
  return spec.constructor?.name ?? 'custom';
}

export function storageNamesOf(spec: UsageStorageSpec | UsageStorageSpec[] | undefined): string[] {
  if (spec === undefined) return [DEFAULT_STORAGE];
  return (Array.isArray(spec) ? spec : [spec]).map(storageNameOf);
}

/**
 * Owns every configured driver and its buffered writer. Drivers named in the options (globally or per
 * AI provider) are created at boot; a built-in alias named only by a decorator is created on first use.
 */
@Injectable()
export class UsageStorageRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('UsageTracking');
  private readonly writers = new Map<string, UsageStorageWriter>();
  private readonly pendingClasses = new Map<string, new (...args: any[]) => UsageStorage>();
  private initialized = false;
  /** Drivers that take every record unless a decorator or provider config says otherwise. */
  readonly defaultTargets: string[];
  /** The driver that answers reads. */
  readonly primary: string;

  private readonly connections: UsageConnectionOwners;

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly options: UsageTrackingModuleOptions,
    private readonly moduleRef: ModuleRef,
    @Inject(getUsageConnectionToken('database')) database: UsageDatabaseConnection,
    @Inject(getUsageConnectionToken('redis')) redis: UsageRedisConnection,
  ) {
    this.connections = { database, redis };
    const specs: UsageStorageSpec[] = [];
    const add = (s: UsageStorageSpec | UsageStorageSpec[] | undefined) => {
      if (s !== undefined) specs.push(...(Array.isArray(s) ? s : [s]));
    };
    add(options.storage ?? DEFAULT_STORAGE);
    for (const p of Object.values(options.providers ?? {})) add(p.storage);
    for (const spec of specs) {
      const name = storageNameOf(spec);
      if (this.writers.has(name) || this.pendingClasses.has(name)) continue;
      if (typeof spec === 'string') this.addWriter(name, createAlias(spec as Alias, options, this.connections));
      else if (typeof spec === 'function') this.pendingClasses.set(name, spec);
      else this.addWriter(name, spec);
    }
    this.defaultTargets = storageNamesOf(options.storage);
    this.primary = this.defaultTargets[0];
  }

  private addWriter(name: string, storage: UsageStorage): UsageStorageWriter {
    const batchSize = this.options.writer?.batchSize ?? storage.writeBatchSize ?? DEFAULT_WRITER_OPTIONS.batchSize;
    // The default spool root is per app (package name + working directory), read when the app boots.
    const spoolDirectory = this.options.writer?.spoolDirectory ?? defaultSpoolRoot();
    const w = new UsageStorageWriter(name, storage, { ...DEFAULT_WRITER_OPTIONS, ...this.options.writer, batchSize, spoolDirectory }, this.logger);
    this.writers.set(name, w);
    if (this.initialized) void this.open(w).catch((e: Error) => this.logger.error(`usage storage "${name}" failed to start: ${e.message}`, e.stack));
    return w;
  }

  private async open(w: UsageStorageWriter): Promise<void> {
    await w.storage.init?.({
      name: w.name,
      timeZone: this.options.timeZone ?? 'UTC',
      logger: this.logger,
      moduleRef: this.moduleRef,
      options: this.options,
    });
    await w.open();
  }

  async onModuleInit(): Promise<void> {
    for (const [name, cls] of this.pendingClasses) this.addWriter(name, await this.moduleRef.create(cls));
    this.pendingClasses.clear();
    // Start every driver; a driver that cannot start stops the boot with its own error.
    await Promise.all([...this.writers.values()].map((w) => this.open(w)));
    this.initialized = true;
  }

  /** Drains every buffer (spooling what the stores refuse) and closes drivers' own connections. */
  async onModuleDestroy(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.close()));
  }

  writer(name: string): UsageStorageWriter {
    const w = this.writers.get(name);
    if (w) return w;
    if ((STORAGE_ALIASES as readonly string[]).includes(name)) return this.addWriter(name, createAlias(name as Alias, this.options, this.connections));
    throw new UnknownUsageStorageError(name, [...this.writers.keys()]);
  }

  has(name: string): boolean {
    return this.writers.has(name) || (STORAGE_ALIASES as readonly string[]).includes(name);
  }

  /** Hot path: hands the record to each target's buffer; no I/O. */
  dispatch(record: UsageRecord, targets: readonly string[]): void {
    for (const t of targets) this.writer(t).enqueue(record);
  }

  names(): string[] {
    return [...this.writers.keys()];
  }

  stats(): UsageStorageStats[] {
    return [...this.writers.values()].map((w) => w.getStats());
  }

  async flushAll(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.flush()));
  }
}
