import { Controller, Get, Header, Inject, NotFoundException, Param, Req, Res, SetMetadata } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { UsageApiAccess } from '../access/usage-api-access';
import { USAGE_API_ACCESS, USAGE_API_PUBLIC_ASSET } from '../api.constants';
import { ApiExcludeController } from '../http/optional-swagger';
import { DASHBOARD_ASSET_TYPES, dashboardAssets } from './dashboard.assets';
import { DASHBOARD_CSP, dashboardHtml, type DashboardAccess } from './dashboard.html';

interface HttpRequest {
  originalUrl?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
}

const PAGE_ACCESS: Record<UsageApiAccess['kind'], DashboardAccess> = { guard: 'guard', apiKeys: 'api-keys', public: 'public' };

/**
 * The dashboard: `GET <path>/dashboard`, an HTML shell that holds no data (so it loads without a key),
 * and `GET <path>/dashboard/assets/:file`, the whitelisted bundle files. Both are public assets for the
 * access guard; every figure the page shows comes from the API routes, which keep their access rule.
 */
@Controller('dashboard')
@SetMetadata(USAGE_API_PUBLIC_ASSET, true)
@ApiExcludeController()
export class UsageDashboardController {
  constructor(
    @Inject(USAGE_API_ACCESS) private readonly access: UsageApiAccess,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  @Header('Content-Security-Policy', DASHBOARD_CSP)
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  shell(@Req() req: HttpRequest): string {
    // The path the browser asked for, global prefix included: the page's links and API base follow it.
    const url = (req.originalUrl ?? req.url ?? '').split('?')[0];
    return dashboardHtml(url, PAGE_ACCESS[this.access.kind], dashboardAssets());
  }

  @Get('assets/:file')
  @Header('Content-Security-Policy', DASHBOARD_CSP)
  @Header('X-Content-Type-Options', 'nosniff')
  asset(@Param('file') file: string, @Req() req: HttpRequest, @Res({ passthrough: true }) res: unknown): string {
    if (!Object.prototype.hasOwnProperty.call(DASHBOARD_ASSET_TYPES, file)) throw new NotFoundException(`No dashboard asset named "${file}"`);
    const asset = dashboardAssets().get(file)!;
    const adapter = this.adapterHost.httpAdapter;
    const etag = `"${asset.hash}"`;
    adapter.setHeader(res, 'Content-Type', asset.contentType);
    adapter.setHeader(res, 'ETag', etag);
    // The shell links `?v=<hash>`: that exact content never changes, so it may be kept for a year.
    adapter.setHeader(res, 'Cache-Control', req.query?.v === asset.hash ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (req.headers['if-none-match'] === etag) {
      adapter.status(res, 304);
      return '';
    }
    return asset.body;
  }
}
