import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  OnModuleInit,
  UnauthorizedException,
  type Type,
} from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { lastValueFrom, isObservable } from 'rxjs';
import { USAGE_API_ACCESS, USAGE_API_PUBLIC_ASSET } from '../api.constants';
import { apiKeyMatches, type UsageApiAccess } from './usage-api-access';

/** Applies the registration's access rule to every route of its controllers. */
@Injectable()
export class UsageApiAccessGuard implements CanActivate, OnModuleInit {
  private hostGuard: CanActivate | null = null;

  constructor(
    @Inject(USAGE_API_ACCESS) private readonly access: UsageApiAccess,
    private readonly moduleRef: ModuleRef,
    private readonly reflector: Reflector,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.access.kind !== 'guard') return;
    const g = this.access.guard;
    if (typeof g !== 'function') {
      this.hostGuard = g;
      return;
    }
    // The host's own provider when it registered one; otherwise built here with the host's injectables.
    const type = g as Type<CanActivate>;
    let found: CanActivate | null = null;
    try {
      found = this.moduleRef.get(type, { strict: false });
    } catch {
      found = null;
    }
    this.hostGuard = found ?? (await this.moduleRef.create(type));
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(USAGE_API_PUBLIC_ASSET, [context.getHandler(), context.getClass()])) return true;
    const access = this.access;
    if (access.kind === 'public') return true;
    if (access.kind === 'guard') {
      const verdict = this.hostGuard!.canActivate(context);
      const allowed = isObservable(verdict) ? await lastValueFrom(verdict) : await verdict;
      if (!allowed) throw new ForbiddenException('Access denied by the configured guard');
      return true;
    }
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>().headers.authorization;
    const match = typeof header === 'string' ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new UnauthorizedException('Missing API key: send "Authorization: Bearer <key>"');
    if (!apiKeyMatches(access.hashes, match[1])) throw new ForbiddenException('The API key is not valid');
    return true;
  }
}
