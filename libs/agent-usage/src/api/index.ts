// `nestjs-agent-usage/api`: the HTTP module over UsageService's answers. Listed by name; nothing else
// of the library imports this folder.
export { UsageApiModule } from './usage-api.module';
export type { UsageApiModuleAsyncOptions } from './api.module-definition';
export type { UsageApiModuleOptions, UsageApiModuleExtras } from './usage-api-options.interface';
export { USAGE_API_PUBLIC_ASSET, DEFAULT_USAGE_API_PATH } from './api.constants';
export { USAGE_API_CONTROLLERS, mountUsageApiControllers } from './usage-api.controllers';
export { toSnakeCase } from './http/snake-case';
export type { UsageApiErrorBody } from './http/usage-api-exception.filter';
export { EXPORT_COLUMNS } from './export/usage-export.format';
