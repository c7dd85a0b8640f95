import { dirname } from 'node:path';
import { UsageTrackingError } from './usage.errors';

/**
 * Optional peers are loaded only by the features that need them. Before loading one, a feature names
 * every package it needs, so a host missing some gets one line with the exact install command instead
 * of a bare `Cannot find module` and a require stack.
 */
export class MissingUsagePackageError extends UsageTrackingError {
  constructor(
    readonly feature: string,
    readonly needed: readonly string[],
    readonly missing: readonly string[],
  ) {
    super(
      `${feature} needs ${listOf(needed)} installed; missing: ${missing.join(', ')}. ` +
        `Install with: npm install ${missing.join(' ')}`,
    );
  }
}

/** What each feature needs, in one place (the README's install table repeats it). */
export const OPTIONAL_PACKAGES = {
  databaseUrl: { feature: "storage 'database' with database.url", packages: ['typeorm', 'pg'] },
  databaseDataSource: { feature: "storage 'database' with database.dataSource", packages: ['typeorm', 'pg'] },
  databaseHost: {
    feature: "storage 'database' on the host's TypeOrmModule connection",
    packages: ['@nestjs/typeorm', 'typeorm', 'pg'],
  },
  databaseEntry: { feature: "'nestjs-agent-usage/database'", packages: ['typeorm', 'pg'] },
  cache: { feature: "storage 'cache' (Redis)", packages: ['ioredis'] },
  budgetsRedis: { feature: 'budgets coordinated through Redis', packages: ['ioredis'] },
  budgetsPg: { feature: 'budgets coordinated through database.url', packages: ['typeorm', 'pg'] },
  testing: { feature: "'nestjs-agent-usage/testing'", packages: ['@jest/globals'] },
  scheduler: { feature: 'the scheduled threshold job', packages: ['@nestjs/schedule'] },
} as const satisfies Record<string, { feature: string; packages: readonly string[] }>;
export type OptionalFeature = keyof typeof OPTIONAL_PACKAGES;

/** Packages of `feature` that cannot be resolved from the library (that is, from the host app). */
export function missingPackages(feature: OptionalFeature): string[] {
  return OPTIONAL_PACKAGES[feature].packages.filter((name) => {
    try {
      require.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

/** Throws `MissingUsagePackageError` naming every package `feature` needs when any is missing. */
export function assertPackagesFor(feature: OptionalFeature): void {
  const missing = missingPackages(feature);
  if (missing.length > 0) {
    const { feature: label, packages } = OPTIONAL_PACKAGES[feature];
    throw new MissingUsagePackageError(label, packages, missing);
  }
}

function listOf(names: readonly string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * Requires an optional peer, or returns null when it is not installed. `alignWith` resolves the module
 * from that package's folder first, so e.g. `cron` is the very copy @nestjs/schedule uses.
 */
export function loadOptional<T>(name: string, alignWith?: string): T | null {
  const attempts: (() => string)[] = [];
  if (alignWith) attempts.push(() => require.resolve(name, { paths: [dirname(require.resolve(`${alignWith}/package.json`))] }));
  attempts.push(() => require.resolve(name));
  for (const resolve of attempts) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(resolve()) as T;
    } catch {
      /* try the next location */
    }
  }
  return null;
}
