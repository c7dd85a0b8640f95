import { BadRequestException, ValidationPipe, type ValidationError } from '@nestjs/common';
import * as classTransformer from 'class-transformer';
import * as classValidator from 'class-validator';

/** The first failed constraint, with its path (`alerts[0].percent`) as the client wrote it. */
function firstProblem(errors: ValidationError[], parent = ''): { field: string; message: string } | null {
  for (const e of errors) {
    const path = parent ? (/^\d+$/.test(e.property) ? `${parent}[${e.property}]` : `${parent}.${e.property}`) : e.property;
    const constraints = Object.values(e.constraints ?? {});
    if (constraints.length > 0) return { field: path, message: constraints[0] };
    const nested = firstProblem(e.children ?? [], path);
    if (nested) return nested;
  }
  return null;
}

/**
 * The module's own ValidationPipe (the host's global pipes are not relied on): DTO properties are named as
 * the wire names (snake_case), unknown parameters are refused, and a 400 names the parameter. The library's
 * copies of class-validator and class-transformer are passed in, so the metadata its DTOs registered is the
 * metadata read.
 */
export function createUsageApiValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    stopAtFirstError: true,
    validatorPackage: classValidator,
    transformerPackage: classTransformer,
    exceptionFactory: (errors) => {
      const p = firstProblem(errors) ?? { field: errors[0]?.property ?? 'query', message: 'is not valid' };
      return new BadRequestException({ statusCode: 400, error: 'Bad Request', message: p.message, field: p.field });
    },
  });
}
