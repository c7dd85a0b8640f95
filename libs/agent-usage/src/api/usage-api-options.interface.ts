import type { CanActivate, Type } from '@nestjs/common';

/**
 * Options of `UsageApiModule`. Exactly one access rule must be set; the module refuses to boot with none
 * or several, so an API over spend data is never public by accident.
 */
export interface UsageApiModuleOptions {
  /** A Nest guard (class or instance) that decides every request; a class is resolved or built in the module. */
  guard?: Type<CanActivate> | CanActivate;
  /**
   * API keys accepted as `Authorization: Bearer <key>`. Only their SHA-256 hashes are kept after boot;
   * a presented key is hashed and compared in constant time.
   */
  apiKeys?: readonly string[];
  /** Serve the routes to anyone. Must be said explicitly. */
  public?: boolean;
}

/** Static extras: they shape the routes, so they are never a factory's output. */
export interface UsageApiModuleExtras {
  /** Mount point of every route, e.g. 'agent-usage' gives `GET /agent-usage/usage`. Default 'agent-usage'. */
  path?: string;
  /**
   * Serve the dashboard at `<path>/dashboard` (default true). Its HTML shell and assets hold no data and
   * load without the access rule; the figures it shows come from the API routes, which keep it.
   */
  dashboard?: boolean;
}
