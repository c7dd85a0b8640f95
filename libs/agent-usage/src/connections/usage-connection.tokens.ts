/**
 * Injection tokens of the connection owners, made by a function like @nestjs/typeorm's
 * `getDataSourceToken()`: `database` (PostgreSQL, the `database` options), `redis` (the `cache` options)
 * and `scheduler-redis` (`scheduler.redis` when set, else the very `redis` owner).
 */
export type UsageConnectionName = 'database' | 'redis' | 'scheduler-redis';

export function getUsageConnectionToken(name: UsageConnectionName): string {
  return `nestjs-agent-usage:connection:${name}`;
}
