import { ConfigurableModuleBuilder } from '@nestjs/common';
import { DEFAULT_USAGE_API_PATH } from './api.constants';
import type { UsageApiModuleExtras, UsageApiModuleOptions } from './usage-api-options.interface';
import { UsageDashboardController } from './dashboard/dashboard.controller';
import { USAGE_API_CONTROLLERS, mountUsageApiControllers } from './usage-api.controllers';

export const {
  ConfigurableModuleClass: UsageApiConfigurableModule,
  MODULE_OPTIONS_TOKEN: USAGE_API_OPTIONS,
  OPTIONS_TYPE: USAGE_API_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: USAGE_API_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<UsageApiModuleOptions>({ moduleName: 'UsageApi' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createUsageApiOptions')
  // The path is applied here, for forRoot and forRootAsync alike: each registration gets controller
  // classes of its own, mounted under its path (two registrations with two paths do not collide).
  // The dashboard (on unless `dashboard: false`) is one more controller under the same path and guard.
  .setExtras<UsageApiModuleExtras>({ path: DEFAULT_USAGE_API_PATH, dashboard: true }, (definition, extras) => ({
    ...definition,
    controllers: mountUsageApiControllers(
      extras.path ?? DEFAULT_USAGE_API_PATH,
      extras.dashboard === false ? USAGE_API_CONTROLLERS : [...USAGE_API_CONTROLLERS, UsageDashboardController],
    ),
  }))
  .build();

export type UsageApiModuleAsyncOptions = typeof USAGE_API_ASYNC_OPTIONS_TYPE;
