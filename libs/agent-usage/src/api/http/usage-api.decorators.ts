import { Controller, Get, applyDecorators } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from './optional-swagger';

/** A controller of the module: its path relative to the mount point, one OpenAPI tag for all. */
export const UsageApiController = (path: string): ClassDecorator => applyDecorators(ApiTags('agent-usage'), Controller(path));

/** A GET route answering a service object (`answer` names its type in the OpenAPI document). */
export const UsageApiGet = (path: string, summary: string, answer: string): MethodDecorator =>
  applyDecorators(Get(path), ApiOperation({ summary }), ApiOkResponse({ description: `${answer}, keys in snake_case` }));
