/** Metadata key written by `@TrackUsage` on classes and methods. */
export const TRACK_USAGE_METADATA = 'nestjs-agent-usage:track-usage';
/** The validated, defaulted module options. */
export const USAGE_TRACKING_OPTIONS = Symbol('USAGE_TRACKING_OPTIONS');
/** Marks a method wrapper so an instance is never wrapped twice. */
export const WRAPPED_METHOD = Symbol('nestjs-agent-usage:wrapped');
/** Built-in driver aliases. */
export const STORAGE_ALIASES = ['memory', 'file', 'database', 'cache'] as const;
export const DEFAULT_STORAGE = 'memory';
export const DEFAULT_MEMORY_MAX_RECORDS = 100_000;
export const DEFAULT_FILE_DIRECTORY = './.usage-data';
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 10_000;
/** Longest accepted attribution string; longer ones are rejected as absurd. */
export const MAX_ATTRIBUTION_LENGTH = 255;
/** Metadata key written by `@UsageAgentFromParam` on controllers and route handlers. */
export const USAGE_AGENT_PARAM_METADATA = 'nestjs-agent-usage:agent-param';
