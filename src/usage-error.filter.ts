import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import { InvalidUsageInputError, UnknownUsageStorageError, UsageTrackingError } from 'nestjs-agent-usage';

/**
 * The library names the bad field in its errors (a filter, a dimension, an attribution value):
 * answer those as 400 with that message; any other library error is a 500.
 */
/** The part of the platform's response object this filter uses (no dependency on express types). */
interface JsonResponse {
  status(code: number): { json(body: unknown): void };
}

@Catch(UsageTrackingError)
export class UsageErrorFilter implements ExceptionFilter {
  catch(error: UsageTrackingError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<JsonResponse>();
    const bad = error instanceof InvalidUsageInputError || error instanceof UnknownUsageStorageError;
    const status = bad ? HttpStatus.BAD_REQUEST : HttpStatus.INTERNAL_SERVER_ERROR;
    res.status(status).json({
      statusCode: status,
      error: bad ? 'Bad Request' : 'Internal Server Error',
      message: error.message,
      ...(error instanceof InvalidUsageInputError ? { field: error.field } : {}),
    });
  }
}
