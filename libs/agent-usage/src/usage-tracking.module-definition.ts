import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { UsageTrackingModuleOptions } from './interfaces/usage-tracking-options.interface';

/** Static extras: they change how the module is registered, so they are never a factory's output. */
export interface UsageTrackingModuleExtras {
  /** Register UsageService globally. Default false. */
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: USAGE_TRACKING_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<UsageTrackingModuleOptions>({ moduleName: 'UsageTracking' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createUsageTrackingOptions')
  .setExtras<UsageTrackingModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

export type UsageTrackingModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;
