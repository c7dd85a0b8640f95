import { createHash, timingSafeEqual } from 'node:crypto';
import type { CanActivate, Type } from '@nestjs/common';
import { InvalidUsageOptionsError, describe } from '../../common/usage.errors';
import type { UsageApiModuleOptions } from '../usage-api-options.interface';

/** The one access rule of a registration, checked and compiled at boot. */
export type UsageApiAccess =
  | { kind: 'guard'; guard: Type<CanActivate> | CanActivate }
  | { kind: 'apiKeys'; hashes: readonly Buffer[] }
  | { kind: 'public' };

const RULES = ['guard', 'apiKeys', 'public'] as const;
/** Options that are not access rules (checked by their own features, e.g. a dashboard): add them here. */
const OTHER_OPTIONS: readonly string[] = [];

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Validates the options and keeps only hashes of the API keys. Throws InvalidUsageOptionsError naming the option. */
export function compileUsageApiAccess(options: UsageApiModuleOptions | undefined): UsageApiAccess {
  const o = (options ?? {}) as Record<string, unknown>;
  const known = [...RULES, ...OTHER_OPTIONS];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new InvalidUsageOptionsError(unknown.map((k) => `UsageApiModule: unknown option "${k}" (expected ${known.join(', ')}; path is given to forRoot)`));
  }
  const set = RULES.filter((k) => o[k] !== undefined && o[k] !== false);
  if (set.length !== 1) {
    const which = set.length === 0 ? 'none is set' : `${set.join(' and ')} are set`;
    throw new InvalidUsageOptionsError([
      `UsageApiModule: set exactly one access rule, guard, apiKeys or public: true (${which})`,
    ]);
  }
  if (set[0] === 'public') {
    if (o.public !== true) throw new InvalidUsageOptionsError([`UsageApiModule: public must be true when set; received ${describe(o.public)}`]);
    return { kind: 'public' };
  }
  if (set[0] === 'guard') {
    const g: unknown = o.guard;
    const ok =
      typeof g === 'function'
        ? typeof (g.prototype as { canActivate?: unknown } | undefined)?.canActivate === 'function'
        : !!g && typeof g === 'object' && typeof (g as { canActivate?: unknown }).canActivate === 'function';
    if (!ok) throw new InvalidUsageOptionsError([`UsageApiModule: guard must be a CanActivate class or instance; received ${describe(o.guard)}`]);
    return { kind: 'guard', guard: o.guard as Type<CanActivate> | CanActivate };
  }
  const keys = o.apiKeys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new InvalidUsageOptionsError([`UsageApiModule: apiKeys must be a non-empty array of strings; received ${describe(keys)}`]);
  }
  keys.forEach((k, i) => {
    // Never echo a key: only its length is named.
    if (typeof k !== 'string' || k.length < 16 || /\s/.test(k)) {
      const got = typeof k === 'string' ? `a string of ${k.length} characters${/\s/.test(k) ? ' with whitespace' : ''}` : describe(k);
      throw new InvalidUsageOptionsError([`UsageApiModule: apiKeys[${i}] must be a string of at least 16 characters without whitespace; received ${got}`]);
    }
  });
  return { kind: 'apiKeys', hashes: [...new Set(keys as string[])].map(sha256) };
}

/** True when `presented` hashes to one of `hashes`; every hash is compared (constant time, no early exit). */
export function apiKeyMatches(hashes: readonly Buffer[], presented: string): boolean {
  const digest = sha256(presented);
  let match = false;
  for (const h of hashes) match = timingSafeEqual(h, digest) || match;
  return match;
}
