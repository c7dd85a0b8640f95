import { Controller, Get, Header, Inject, NotFoundException, Optional, Param, Req, Res, type Type } from '@nestjs/common';
import { DASHBOARD_ASSET_TYPES, dashboardAssets } from './dashboard.assets';
import { DASHBOARD_CSP, dashboardHtml, type DashboardAccess } from './dashboard.html';

/** Provided by the API module: which access rule the API uses (the page asks for a key with 'api-keys'). */
export const USAGE_DASHBOARD_ACCESS = Symbol('USAGE_DASHBOARD_ACCESS');

/** Express's response and Fastify's reply both answer these (`setHeader` / `header`, `status`). */
interface HttpReply {
  setHeader?(name: string, value: string): unknown;
  header?(name: string, value: string): unknown;
  status(code: number): unknown;
}
interface HttpRequest {
  originalUrl?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
}

const setHeader = (res: HttpReply, name: string, value: string): void => {
  if (res.setHeader) res.setHeader(name, value);
  else res.header?.(name, value);
};

/**
 * The dashboard: `GET <path>/dashboard` (an HTML shell that holds no data, so it loads without a key)
 * and `GET <path>/dashboard/assets/:file` (whitelisted bundle files). Every figure the page shows comes
 * from the API routes, which keep their access rule. The controller is made per mount path.
 */
export function usageDashboardController(path: string): Type<unknown> {
  @Controller(path)
  class UsageDashboardController {
    constructor(@Optional() @Inject(USAGE_DASHBOARD_ACCESS) private readonly access: DashboardAccess = 'public') {}

    @Get('dashboard')
    @Header('Content-Type', 'text/html; charset=utf-8')
    @Header('Cache-Control', 'no-store')
    @Header('Content-Security-Policy', DASHBOARD_CSP)
    @Header('X-Content-Type-Options', 'nosniff')
    @Header('Referrer-Policy', 'no-referrer')
    shell(@Req() req: HttpRequest): string {
      const url = req.originalUrl ?? req.url ?? `/${path}/dashboard`;
      return dashboardHtml(url.split('?')[0], this.access ?? 'public', dashboardAssets());
    }

    @Get('dashboard/assets/:file')
    @Header('Content-Security-Policy', DASHBOARD_CSP)
    @Header('X-Content-Type-Options', 'nosniff')
    asset(@Param('file') file: string, @Req() req: HttpRequest, @Res({ passthrough: true }) res: HttpReply): Buffer | string {
      if (!Object.prototype.hasOwnProperty.call(DASHBOARD_ASSET_TYPES, file)) throw new NotFoundException(`no dashboard asset named ${file}`);
      const asset = dashboardAssets().get(file)!;
      const etag = `"${asset.hash}"`;
      setHeader(res, 'Content-Type', asset.contentType);
      setHeader(res, 'ETag', etag);
      // The shell links `?v=<hash>`: that exact content never changes, so it may be kept for a year.
      const versioned = req.query?.v === asset.hash;
      setHeader(res, 'Cache-Control', versioned ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (req.headers['if-none-match'] === etag) {
        res.status(304);
        return '';
      }
      return asset.body;
    }
  }
  return UsageDashboardController;
}
