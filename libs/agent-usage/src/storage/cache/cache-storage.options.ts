import { IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, Min, validateSync } from 'class-validator';
// No ioredis types here: the main entry's options use this file (see interfaces/peer-types.interface.ts).
import type { UsageRedisClient, UsageRedisClusterSource, UsageRedisOptions } from '../../interfaces/peer-types.interface';
import { redisClusterProblems } from '../../connections/redis-cluster.source';

/** Where the driver's client comes from; give exactly one of url/redisOptions, client, clientToken, cluster. */
export interface CacheStorageOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://...`; combined with `redisOptions`. */
  url?: string;
  /**
   * ioredis options for the client the driver creates (and closes). Merged over
   * `DEFAULT_CACHE_CLIENT_OPTIONS`, which make a command fail fast during an outage instead of hanging:
   * the library's buffered writer then keeps the records, retries and spools them.
   */
  redisOptions?: UsageRedisOptions;
  /** An ioredis client the host owns (`Redis` or `Cluster`): used as is and never closed by the driver. */
  client?: UsageRedisClient;
  /** A Redis Cluster the driver connects to (and quits): seed nodes and ioredis `ClusterOptions`. */
  cluster?: UsageRedisClusterSource;
  /** Injection token of a host provider that is an ioredis client (`moduleRef.get(token, { strict: false })`). */
  clientToken?: string | symbol | (abstract new (...args: any[]) => unknown);
  /** Prefix of every key. Default `agent-usage:`. Two apps sharing one Redis need two prefixes. */
  keyPrefix?: string;
  /**
   * Keep each day's records, indexes, hourly and daily buckets this many days after the day ends, then let
   * Redis expire them (applies to what is written while set). Default: keep forever.
   */
  retentionDays?: number;
  /** Index members per ZRANGEBYLEX and ids per HMGET when a query scans records. Default 500. */
  scanChunkSize?: number;
  /**
   * Records per write script call (one call holds one day's records). Bigger chunks share more buckets
   * (fewer hash updates per record: about 0.7 Redis commands per record at 500, 0.5 at 1,000 in the ingest bench)
   * but hold Redis longer per call: roughly 15 to 40 ms per 1,000 records on a busy 2-core host. Default
   * 1,000 (the driver's batches are 2,000 records: two calls per batch and day).
   */
  writeChunkSize?: number;
}

export const DEFAULT_CACHE_KEY_PREFIX = 'agent-usage:';
export const DEFAULT_CACHE_SCAN_CHUNK = 500;
export const DEFAULT_CACHE_WRITE_CHUNK = 1000;

/**
 * Printable, no white space and no glob characters (so `SCAN MATCH <prefix>*` selects exactly our keys),
 * and no `{` `}`: the driver's hash tags follow the prefix (Redis Cluster hashes the first `{...}`).
 */
export const CACHE_KEY_PREFIX_PATTERN = /^[A-Za-z0-9_.:/@#=+-]{1,100}$/;

/** class-validator form of `CacheStorageOptions` (module option `cache`). */
export class CacheStorageOptionsDto implements CacheStorageOptions {
  @IsOptional()
  @IsString()
  @Matches(/^rediss?:\/\/\S+$/, { message: 'url must be a redis:// or rediss:// URL' })
  url?: string;

  @IsOptional()
  @IsObject()
  redisOptions?: UsageRedisOptions;

  @IsOptional()
  @IsObject({ message: 'client must be an ioredis client instance' })
  client?: UsageRedisClient;

  @IsOptional()
  clientToken?: CacheStorageOptions['clientToken'];

  @IsOptional() // checked field by field by redisClusterProblems
  cluster?: UsageRedisClusterSource;

  @IsOptional()
  @IsString()
  @Length(1, 100)
  @Matches(CACHE_KEY_PREFIX_PATTERN, {
    message: 'keyPrefix must be 1 to 100 characters among letters, digits and _ . : / @ # = + -',
  })
  keyPrefix?: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(36_500)
  retentionDays?: number;

  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(10_000)
  scanChunkSize?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  writeChunkSize?: number;
}

/**
 * Every problem with the `cache` options section (DTO rules, unknown keys, "one client source"), each
 * naming its field relative to the section, e.g. `keyPrefix must be ...`. Fits
 * `OPTION_SECTION_VALIDATORS.cache`; the driver runs it too and throws `InvalidUsageOptionsError`.
 */
export function cacheStorageOptionProblems(value: unknown): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return ['must be an object'];
  const options = value as CacheStorageOptions;
  // Shallow copy: a Redis client must not be deep-cloned.
  const dto = Object.assign(new CacheStorageOptionsDto(), options);
  const problems = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false }).flatMap((e) =>
    Object.values(e.constraints ?? {}).map((m) => (m.startsWith('property ') ? `${e.property} is not an option` : m)),
  );
  const sources = [
    options.client !== undefined && 'client',
    options.clientToken !== undefined && 'clientToken',
    (options.url !== undefined || options.redisOptions !== undefined) && 'url/redisOptions',
    options.cluster !== undefined && 'cluster',
  ].filter(Boolean);
  if (sources.length > 1) problems.push(`give only one of client, clientToken, url/redisOptions or cluster (got ${sources.join(', ')})`);
  if (options.cluster !== undefined) problems.push(...redisClusterProblems(options.cluster));
  const t = options.clientToken;
  if (t !== undefined && typeof t !== 'string' && typeof t !== 'symbol' && typeof t !== 'function') {
    problems.push('clientToken must be a string, a symbol or a class');
  }
  return problems;
}
