import { PATH_METADATA } from '@nestjs/common/constants';
import { UseFilters, UseGuards, UsePipes, type Type } from '@nestjs/common';
import { UsageApiAccessGuard } from './access/usage-api-access.guard';
import { UsageAlertsController } from './controllers/alerts.controller';
import { UsageAnalyticsController } from './controllers/analytics.controller';
import { UsageExportController } from './controllers/export.controller';
import { UsageFleetController } from './controllers/fleet.controller';
import { UsageInvoiceController } from './controllers/invoice.controller';
import { UsageLogsController } from './controllers/logs.controller';
import { UsageSummaryController } from './controllers/usage.controller';
import { UsageApiExceptionFilter } from './http/usage-api-exception.filter';
import { createUsageApiValidationPipe } from './http/usage-api-validation.pipe';
import { ApiBearerAuth } from './http/optional-swagger';

/**
 * Every controller of the module, one per area, each with its path relative to the mount point. A new
 * area (the dashboard) is one more entry: it gets the access rule, the validation pipe and the error
 * filter like the others.
 */
export const USAGE_API_CONTROLLERS: readonly Type<unknown>[] = [
  UsageSummaryController,
  UsageExportController,
  UsageAnalyticsController,
  UsageFleetController,
  UsageLogsController,
  UsageInvoiceController,
  UsageAlertsController,
];

function joinPath(...parts: string[]): string {
  return parts.map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/');
}

/**
 * Subclasses of the controllers mounted under `path`, with the module's guard, pipe and filter. Each
 * registration gets its own classes, so two registrations (two paths, two access rules) never share
 * a route or a rule; handlers, parameters and DI metadata are inherited from the originals.
 */
export function mountUsageApiControllers(path: string, controllers: readonly Type<unknown>[] = USAGE_API_CONTROLLERS): Type<unknown>[] {
  return controllers.map((Base) => {
    const Mounted = class extends (Base as Type<object>) {};
    Object.defineProperty(Mounted, 'name', { value: Base.name });
    const own = (Reflect.getMetadata(PATH_METADATA, Base) as string | undefined) ?? '';
    Reflect.defineMetadata(PATH_METADATA, joinPath(path, own), Mounted);
    UseGuards(UsageApiAccessGuard)(Mounted);
    UsePipes(createUsageApiValidationPipe())(Mounted);
    UseFilters(UsageApiExceptionFilter)(Mounted);
    ApiBearerAuth()(Mounted);
    return Mounted;
  });
}
