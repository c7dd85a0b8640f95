import './cache.requirements';
export { CacheUsageStorage } from './cache.storage';
export {
  CACHE_KEY_PREFIX_PATTERN,
  CacheStorageOptionsDto,
  DEFAULT_CACHE_KEY_PREFIX,
  cacheStorageOptionProblems,
  type CacheStorageOptions,
} from './cache-storage.options';
export { DEFAULT_CACHE_CLIENT_OPTIONS } from '../../connections/redis.connection';
