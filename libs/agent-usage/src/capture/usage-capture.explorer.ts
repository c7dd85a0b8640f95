import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { WRAPPED_METHOD } from '../common/usage-tracking.constants';
import type { TrackUsageMetadata } from './track-usage.decorator';
import { TrackUsageMetadataAccessor } from './track-usage-metadata.accessor';
import { TrackedCallInvoker } from './tracked-call.invoker';
import { UsageStorageRegistry, storageNamesOf } from '../storage/usage-storage.registry';
import { UnknownUsageStorageError } from '../common/usage.errors';

/** Methods that are never agent calls. */
const SKIPPED = new Set([
  'constructor',
  'shouldTrackUsage',
  'onModuleInit',
  'onApplicationBootstrap',
  'onModuleDestroy',
  'beforeApplicationShutdown',
  'onApplicationShutdown',
]);

/**
 * Finds providers marked with @TrackUsage (on the class or on methods) and wraps their methods on
 * the instance, so every call runs inside a usage context and its model responses are recorded.
 * Request-scoped providers have no single instance to wrap: they are skipped with a warning, as
 * @nestjs/schedule does.
 */
@Injectable()
export class UsageCaptureExplorer implements OnModuleInit {
  private readonly logger = new Logger('UsageTracking');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly metadata: TrackUsageMetadataAccessor,
    private readonly invoker: TrackedCallInvoker,
    private readonly registry: UsageStorageRegistry,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const { instance, metatype } = wrapper;
      if (!instance || !metatype || typeof metatype !== 'function' || typeof instance !== 'object') continue;
      const classMeta = this.metadata.forClass(metatype);
      const proto = Object.getPrototypeOf(instance);
      const methods = this.scanner.getAllMethodNames(proto).filter((m) => !SKIPPED.has(m));
      const methodMetas = new Map<string, TrackUsageMetadata>();
      for (const m of methods) {
        const meta = this.metadata.forMethod(proto[m]);
        if (meta) methodMetas.set(m, meta);
      }
      if (!classMeta && methodMetas.size === 0) continue;
      if (!wrapper.isDependencyTreeStatic()) {
        this.logger.warn(
          `${metatype.name} is request-scoped (or depends on one): @TrackUsage cannot wrap it; record with UsageService.recordResponse() instead`,
        );
        continue;
      }
      this.checkStorage(metatype.name, classMeta);
      for (const meta of methodMetas.values()) this.checkStorage(metatype.name, meta);
      for (const m of classMeta ? methods : [...methodMetas.keys()]) {
        this.wrap(instance, metatype.name, m, classMeta, methodMetas.get(m));
      }
    }
  }

  /** A decorator naming a driver that is neither configured nor built in is a boot error. */
  private checkStorage(className: string, meta: TrackUsageMetadata | undefined): void {
    if (!meta?.storage) return;
    for (const name of storageNamesOf(meta.storage)) {
      if (!this.registry.has(name)) {
        throw new UnknownUsageStorageError(name, this.registry.names(), ` (in @TrackUsage of ${className})`);
      }
    }
  }

  private wrap(
    instance: Record<string, any>,
    className: string,
    method: string,
    classMeta: TrackUsageMetadata | undefined,
    methodMeta: TrackUsageMetadata | undefined,
  ): void {
    const original = instance[method];
    if (typeof original !== 'function' || original[WRAPPED_METHOD]) return;
    const invoker = this.invoker;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      return invoker.invoke({ instance, className, method, args, classMeta, methodMeta, parent: undefined }, original, this, args);
    };
    Object.defineProperty(wrapped, 'name', { value: original.name });
    // Keep other decorators' metadata visible on the wrapper (guards, interceptors, schedulers...).
    for (const key of Reflect.getMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapped);
    }
    (wrapped as any)[WRAPPED_METHOD] = true;
    instance[method] = wrapped;
  }
}
