import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { InvalidUsageInputError } from '../../common/usage.errors';
import { httpFieldName } from './snake-case';

/** 400 body of the API: which parameter, what was expected. */
export interface UsageApiErrorBody {
  statusCode: number;
  error: string;
  message: string;
  field?: string;
}

/**
 * Scoped to the module's controllers (the host's own filters are not relied on): the service's
 * InvalidUsageInputError becomes a 400 naming the snake_case parameter; HttpExceptions keep their status;
 * anything else is a 500 without internals (logged once here).
 */
@Catch()
export class UsageApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('UsageApiModule');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    type Res = { headersSent?: boolean; destroy?: () => void };
    const res = host.switchToHttp().getResponse<Res & { raw?: Res }>();
    const body = this.bodyOf(exception);
    if (res.headersSent || res.raw?.headersSent) {
      // A stream already started: the client can only see it cut short.
      (res.raw ?? res).destroy?.();
      return;
    }
    this.adapterHost.httpAdapter.reply(res, body, body.statusCode);
  }

  private bodyOf(exception: unknown): UsageApiErrorBody {
    if (exception instanceof InvalidUsageInputError) {
      const field = httpFieldName(exception.field);
      return { statusCode: 400, error: 'Bad Request', message: exception.message.replace(`"${exception.field}"`, `"${field}"`), field };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const r = exception.getResponse();
      const o = typeof r === 'object' && r !== null ? (r as Record<string, unknown>) : { message: String(r) };
      const message = Array.isArray(o.message) ? o.message.join('; ') : String(o.message ?? exception.message);
      const out: UsageApiErrorBody = { statusCode: status, error: String(o.error ?? HttpStatus[status] ?? 'Error'), message };
      if (typeof o.field === 'string') out.field = o.field;
      return out;
    }
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return { statusCode: 500, error: 'Internal Server Error', message: 'The usage API failed to answer; see the server log' };
  }
}
