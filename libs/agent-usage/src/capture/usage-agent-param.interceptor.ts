import { BadRequestException, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Observable } from 'rxjs';
import { MAX_ATTRIBUTION_LENGTH, USAGE_AGENT_PARAM_METADATA } from '../common/usage-tracking.constants';
import { newRunState, usageContextStorage, type UsageContextState } from '../context/usage-context';
import { newUsageId } from '../record/usage-id';

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * A2A-style routes (LiteLLM's `/a2a/{agent_id}`): every record made while handling the request is booked
 * to the agent named by a route parameter, beating the tracked classes' own names, and the request is one
 * run. Applied by `@UsageAgentFromParam()`; other routes and non-HTTP contexts pass through untouched.
 */
@Injectable()
export class UsageAgentParamInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const param = this.reflector.getAllAndOverride<string | undefined>(USAGE_AGENT_PARAM_METADATA, [context.getHandler(), context.getClass()]);
    if (param === undefined || context.getType() !== 'http') return next.handle();
    const value = context.switchToHttp().getRequest<{ params?: Record<string, unknown> }>().params?.[param];
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ATTRIBUTION_LENGTH || CONTROL_CHARS.test(value)) {
      throw new BadRequestException(
        `route parameter "${param}" must be an agent name of 1 to ${MAX_ATTRIBUTION_LENGTH} characters without control characters`,
      );
    }
    const parent = usageContextStorage.getStore();
    const state: UsageContextState = { ...parent, routeAgentName: value, run: parent?.run ?? newRunState(newUsageId()) };
    // The handler runs when the stream is subscribed (not when `handle()` returns): subscribe inside the context.
    return new Observable((subscriber) => usageContextStorage.run(state, () => next.handle().subscribe(subscriber)));
  }
}
