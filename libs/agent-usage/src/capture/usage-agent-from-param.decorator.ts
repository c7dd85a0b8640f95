import { SetMetadata, UseInterceptors, applyDecorators } from '@nestjs/common';
import { UsageAgentParamInterceptor } from './usage-agent-param.interceptor';
import { USAGE_AGENT_PARAM_METADATA } from '../common/usage-tracking.constants';

/**
 * On a controller or a route handler: records made while handling a request are booked to the agent named
 * by route parameter `param` (e.g. `@Post('a2a/:agentId')`), whatever tracked classes do the work, and the
 * request is one run (so an agent's `costPerQuery` is charged once per request). A handler's decorator
 * beats its controller's. A value that is not a valid agent name is answered with 400.
 */
export function UsageAgentFromParam(param = 'agentId'): ClassDecorator & MethodDecorator {
  if (typeof param !== 'string' || param.length === 0) throw new TypeError('@UsageAgentFromParam(param): param must be a non-empty route parameter name');
  return applyDecorators(SetMetadata(USAGE_AGENT_PARAM_METADATA, param), UseInterceptors(UsageAgentParamInterceptor));
}
