import type { UsageTrackingModuleOptions } from 'nestjs-agent-usage';

export const STORAGE_KINDS = ['file', 'memory', 'database', 'cache'] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

export const DEFAULT_DATA_DIR = './.usage-data';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** The support agent's hard budget: total tokens per hour (the example question costs 50). */
export const DEFAULT_SUPPORT_TOKENS_PER_HOUR = 2000;

/** `DEMO_SUPPORT_TOKENS_PER_HOUR` (default 2000): small on purpose, so the budget visibly trips. */
export function supportBudgetFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DEMO_SUPPORT_TOKENS_PER_HOUR;
  if (raw === undefined || raw === '') return DEFAULT_SUPPORT_TOKENS_PER_HOUR;
  if (!/^[1-9]\d{0,12}$/.test(raw)) throw new Error(`DEMO_SUPPORT_TOKENS_PER_HOUR must be a positive integer; got "${raw}"`);
  return Number(raw);
}

/** `USAGE_STORAGE` (default `file`), checked: a typo stops the boot with the allowed values. */
export function storageKindFromEnv(env: NodeJS.ProcessEnv = process.env): StorageKind {
  const raw = (env.USAGE_STORAGE ?? '').trim().toLowerCase();
  if (raw === '') return 'file';
  if ((STORAGE_KINDS as readonly string[]).includes(raw)) return raw as StorageKind;
  throw new Error(`USAGE_STORAGE must be one of ${STORAGE_KINDS.join(', ')}; got "${env.USAGE_STORAGE}"`);
}

/** Where the records go, in words (for the startup banner and the dashboard). */
export function describeStorage(env: NodeJS.ProcessEnv = process.env): string {
  switch (storageKindFromEnv(env)) {
    case 'file':
      return `file (${env.USAGE_DATA_DIR || DEFAULT_DATA_DIR})`;
    case 'memory':
      return 'memory (lost on restart)';
    case 'database':
      return `database (${redact(env.DATABASE_URL || DEFAULT_DATABASE_URL)})`;
    case 'cache':
      return `cache (${redact(env.REDIS_URL || DEFAULT_REDIS_URL)})`;
  }
}

/**
 * The module options for the storage chosen by `USAGE_STORAGE`:
 * - `file` (default): JSON Lines files in `USAGE_DATA_DIR` (default `./.usage-data`), zero set-up;
 * - `memory`: in this process only;
 * - `database`: PostgreSQL at `DATABASE_URL` (tables created at startup);
 * - `cache`: Redis at `REDIS_URL`.
 * Every agent of the demo is tracked (`trackUsage: true`); @TrackUsage names each agent and provider.
 */
export function usageOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): UsageTrackingModuleOptions {
  const base: UsageTrackingModuleOptions = {
    trackUsage: true,
    timeZone: 'UTC',
    // A hard budget that trips after 40 example questions (50 tokens each): the support agent then answers 429 until the hour ends.
    budgets: [
      {
        name: 'support-hourly-tokens',
        scope: 'agent',
        match: 'support',
        window: 'hour',
        metric: 'tokens',
        limit: supportBudgetFromEnv(env),
        levels: [50, 80, 100],
        actions: ['log', 'event', 'pause'],
      },
    ],
    // The threshold job (registered in ScheduleModule's registry) checks every minute in the demo.
    scheduler: { cron: '* * * * *' },
  };
  switch (storageKindFromEnv(env)) {
    case 'file':
      return { ...base, storage: 'file', file: { directory: env.USAGE_DATA_DIR || DEFAULT_DATA_DIR } };
    case 'memory':
      return { ...base, storage: 'memory' };
    case 'database':
      return { ...base, storage: 'database', database: { url: env.DATABASE_URL || DEFAULT_DATABASE_URL } };
    case 'cache':
      return { ...base, storage: 'cache', cache: { url: env.REDIS_URL || DEFAULT_REDIS_URL } };
  }
}

/** A connection URL without its password, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
