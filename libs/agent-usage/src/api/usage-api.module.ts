import { Module } from '@nestjs/common';
import { compileUsageApiAccess } from './access/usage-api-access';
import { UsageApiAccessGuard } from './access/usage-api-access.guard';
import { USAGE_API_ACCESS } from './api.constants';
import { USAGE_API_OPTIONS, UsageApiConfigurableModule } from './api.module-definition';
import type { UsageApiModuleOptions } from './usage-api-options.interface';
import { UsageApiServiceRef } from './usage-api.service-ref';

/**
 * The usage analytics API over HTTP: `UsageApiModule.forRoot({ path, apiKeys | guard | public })` (or
 * `forRootAsync`) next to `UsageTrackingModule.forRoot(...)`. Controllers are added per registration by
 * the module definition (mounted under `path`); the access rule is compiled at boot, which refuses
 * options without exactly one rule.
 */
@Module({
  providers: [
    {
      provide: USAGE_API_ACCESS,
      useFactory: (options: UsageApiModuleOptions) => compileUsageApiAccess(options),
      inject: [USAGE_API_OPTIONS],
    },
    UsageApiAccessGuard,
    UsageApiServiceRef,
  ],
})
export class UsageApiModule extends UsageApiConfigurableModule {}
