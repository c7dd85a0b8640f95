import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { TRACK_USAGE_METADATA } from '../common/usage-tracking.constants';
import type { TrackUsageMetadata } from './track-usage.decorator';

/** A class or a method, as Reflector takes them. */
type DecoratedTarget = Parameters<Reflector['get']>[1];

/** Reads what `@TrackUsage` wrote on a class or a method (as @nestjs/schedule's SchedulerMetadataAccessor does). */
@Injectable()
export class TrackUsageMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  forClass(metatype: DecoratedTarget): TrackUsageMetadata | undefined {
    return this.reflector.get<TrackUsageMetadata | undefined>(TRACK_USAGE_METADATA, metatype);
  }

  forMethod(method: DecoratedTarget): TrackUsageMetadata | undefined {
    return this.reflector.get<TrackUsageMetadata | undefined>(TRACK_USAGE_METADATA, method);
  }
}
