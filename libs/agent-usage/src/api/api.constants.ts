/** Tokens and defaults of the HTTP module (`nestjs-agent-usage/api`). */

/** Where the routes are mounted when `path` is not given. */
export const DEFAULT_USAGE_API_PATH = 'agent-usage';

/** The compiled access rule (guard instance, key hashes or public), built once at boot. */
export const USAGE_API_ACCESS = Symbol('USAGE_API_ACCESS');

/** Metadata key: a route that needs no access rule because it serves no data (a stylesheet). */
export const USAGE_API_PUBLIC_ASSET = 'nestjs-agent-usage:api-public-asset';
