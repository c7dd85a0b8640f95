import type { ServerResponse } from 'node:http';
import { Get, Logger, Query, Res } from '@nestjs/common';
import { UsageExportQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { EXPORT_FORMATS } from '../export/usage-export.format';
import { streamExport } from '../export/usage-export.stream';
import { ApiOperation, ApiProduces } from '../http/optional-swagger';
import { UsageApiServiceRef } from '../usage-api.service-ref';
import { UsageApiController } from '../http/usage-api.decorators';

@UsageApiController('usage')
export class UsageExportController {
  private readonly logger = new Logger('UsageApiModule');

  constructor(private readonly usage: UsageApiServiceRef) {}

  /**
   * Every record of the range, streamed (Express's response, or Fastify's `reply.raw`, is written
   * directly so a write waits for the socket to drain). Bad input is answered with a 400 before the
   * first byte: the first record is read before the headers are sent.
   */
  @Get('export')
  @ApiOperation({ summary: 'Every record of the range as CSV (RFC 4180, header row), JSON Lines or a JSON array' })
  @ApiProduces('text/csv', 'application/x-ndjson', 'application/json')
  async export(@Query() q: UsageExportQueryDto, @Res() reply: ServerResponse & { raw?: ServerResponse; hijack?: () => void }): Promise<void> {
    const format = EXPORT_FORMATS[q.format ?? 'csv'];
    const range = toRange(q);
    const query = range.period || range.startDate || range.endDate ? range : { ...range, period: 'all_time' as const };
    const records = this.usage.service.exportUsage(query)[Symbol.asyncIterator]();
    const first = await records.next();
    const filename = `agent-usage-${await this.rangeName(query)}.${format.extension}`;
    reply.hijack?.(); // Fastify: the raw response is written here
    const res = reply.raw ?? reply;
    res.statusCode = 200;
    res.setHeader('Content-Type', format.contentType);
    res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    try {
      await streamExport(res, first, records, format);
    } catch (err) {
      // Headers are gone: the client can only see the download cut short.
      this.logger.error(`usage export failed after the first bytes: ${err instanceof Error ? err.message : String(err)}`);
      res.destroy();
    }
  }

  /** `<start>-<end>` of the range the export covers (days in the module's time zone). */
  private async rangeName(query: ReturnType<typeof toRange>): Promise<string> {
    if (query.startDate && query.endDate) return `${query.startDate}-${query.endDate}`;
    const { range } = await this.usage.service.getUsageSummary(query);
    return `${range.startDate ?? 'none'}-${range.endDate ?? 'none'}`;
  }
}
