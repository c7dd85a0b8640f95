import { Get, Header, Query, Req, Res, SetMetadata } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { USAGE_API_PUBLIC_ASSET } from '../api.constants';
import { UsageInvoiceQueryDto } from '../dto/usage-query.dto';
import { toFilters } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { ApiOkResponse, ApiOperation, ApiProduces } from '../http/optional-swagger';
import { INVOICE_CSS, invoiceHtml } from '../invoice/invoice.html';
import { UsageApiServiceRef } from '../usage-api.service-ref';
import { UsageApiController } from '../http/usage-api.decorators';

@UsageApiController('invoice')
export class UsageInvoiceController {
  constructor(
    private readonly usage: UsageApiServiceRef,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  @Get()
  @ApiOperation({ summary: 'The invoice of a month (line items per category, volume discount), as JSON or a printable page' })
  @ApiProduces('application/json', 'text/html')
  @ApiOkResponse({ description: 'UsageInvoice, snake_case (format=json), or an HTML page (format=html)' })
  async invoice(@Query() q: UsageInvoiceQueryDto, @Req() req: { originalUrl?: string; url?: string }, @Res({ passthrough: true }) res: unknown): Promise<unknown> {
    const invoice = await this.usage.service.getInvoice({ month: q.month, ...toFilters(q) });
    if (q.format !== 'html') return toSnakeCase(invoice);
    const adapter = this.adapterHost.httpAdapter;
    adapter.setHeader(res, 'Content-Type', 'text/html; charset=utf-8');
    adapter.setHeader(res, 'Content-Security-Policy', "default-src 'none'; style-src 'self'");
    adapter.setHeader(res, 'X-Content-Type-Options', 'nosniff');
    // The stylesheet's path from the root (global prefix and mount path included, as the browser asked):
    // a relative link breaks under a trailing slash, and the dashboard opens this page from a blob: URL.
    const path = (req.originalUrl ?? req.url ?? '').split('?')[0].replace(/\/+$/, '');
    return invoiceHtml(invoice, `Agent usage invoice ${q.month}`, `${path}/invoice.css`);
  }

  /** The page's stylesheet: no data in it, so it is served without the access rule. */
  @Get('invoice.css')
  @SetMetadata(USAGE_API_PUBLIC_ASSET, true)
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'public, max-age=3600')
  stylesheet(): string {
    return INVOICE_CSS;
  }
}
