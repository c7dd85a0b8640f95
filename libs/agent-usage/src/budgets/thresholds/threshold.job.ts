import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { UsageTrackingModuleOptions } from '../../interfaces/usage-tracking-options.interface';
import type { UsageGroup } from '../../interfaces/usage-query.interface';
import { USAGE_TRACKING_OPTIONS } from '../../common/usage-tracking.constants';
import { UsageStorageRegistry } from '../../storage/usage-storage.registry';
import { UsageStorageReader } from '../../storage/usage-storage.reader';
import { UsageBudgetService } from '../budget.service';
import { UsageBudgetCoordination } from '../budget-coordination';
import { MissingUsagePackageError, OPTIONAL_PACKAGES, loadOptional, missingPackages } from '../../common/optional-packages';
import type {
  CompiledBudget,
  UsageBudgetStatus,
  UsageCostDriver,
  UsageThresholdEvent,
} from '../budget-options.interface';
import {
  DEFAULT_ALERTS_TABLE,
  DEFAULT_CRON,
  DEFAULT_JOB_NAME,
  DEFAULT_KEY_PREFIX,
  USAGE_THRESHOLD_EVENT,
} from '../budget.constants';
import { nanoUsdToString } from '../../query/money';
import { SHARED } from '../budget-counter.memory';
import { ThresholdDedupeStore, createThresholdDedupe } from './threshold-dedupe.store';
import { UsageWebhookNotifier } from './webhook.notifier';
import { alertPayload } from './alert-payload';
import { type EventEmitterLike, resolveThresholdDelivery } from './threshold-delivery';

const TOP_DRIVERS = 5;

/** What one run of the job did (returned by `run()`, handy in tests and admin endpoints). */
export interface ThresholdRunResult {
  /** Levels this instance fired (claimed) in this run. */
  fired: UsageThresholdEvent[];
  /** False when skipped because a run was still in progress or the app is closing. */
  ran: boolean;
}


/**
 * The threshold job: registered through @nestjs/schedule's SchedulerRegistry at bootstrap (the host
 * imports `ScheduleModule.forRoot()`; the library never does). Each run checks every level of every
 * alerting budget and fires each level once per window across instances (Redis, PostgreSQL or memory).
 */
@Injectable()
export class UsageThresholdJob implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('UsageBudgets');
  private readonly reader: UsageStorageReader;
  private readonly notifier: UsageWebhookNotifier;
  /** Called when a runtime alert's `pause_agent` level is claimed (set by the runtime alerts service). */
  onPauseLevel: ((b: CompiledBudget, event: UsageThresholdEvent) => Promise<void>) | null = null;
  private delivery: Promise<void> | null = null;
  private dedupe: ThresholdDedupeStore | null = null;
  private emitter: EventEmitterLike | null = null;
  private handler: ((e: UsageThresholdEvent) => void | Promise<void>) | null = null;
  private registry: { addCronJob(name: string, job: unknown): void; deleteCronJob(name: string): void; doesExist(t: 'cron', n: string): boolean } | null = null;
  private job: { start(): void; stop(): unknown } | null = null;
  private current: Promise<ThresholdRunResult> | null = null;
  private closing = false;
  private initialized: Promise<void> | null = null;
  readonly name: string;

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly options: UsageTrackingModuleOptions,
    private readonly budgets: UsageBudgetService,
    storages: UsageStorageRegistry,
    private readonly moduleRef: ModuleRef,
    /** Where levels are claimed: the Redis or PostgreSQL connection the drivers and budgets share. */
    private readonly coordination: UsageBudgetCoordination,
  ) {
    this.reader = new UsageStorageReader(storages, storages.primary, options);
    this.notifier = new UsageWebhookNotifier(this.logger, budgets.stats, () => this.closing);
    this.name = options.scheduler?.name ?? DEFAULT_JOB_NAME;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.budgets.budgets.length === 0) return;
    await this.resolveDeliveryOnce();
    const s = this.options.scheduler ?? {};
    if (s.enabled === false) {
      this.logger.log(`threshold job disabled (scheduler.enabled: false); call UsageThresholdJob.run() yourself`);
      return;
    }
    const schedule = loadOptional<{ SchedulerRegistry: new () => unknown }>('@nestjs/schedule');
    try {
      if (!schedule) throw new Error('not installed');
      this.registry = this.moduleRef.get(schedule.SchedulerRegistry as any, { strict: false }) as any;
    } catch {
      this.logger.warn(
        `budgets are configured but ScheduleModule is not available: threshold alerts will not run on a schedule. ` +
          (schedule
            ? `Add ScheduleModule.forRoot() to your AppModule imports (this library never calls it). `
            : `${new MissingUsagePackageError(OPTIONAL_PACKAGES.scheduler.feature, OPTIONAL_PACKAGES.scheduler.packages, missingPackages('scheduler')).message}, ` +
              `then add ScheduleModule.forRoot() to your AppModule imports (this library never calls it). `) +
          `Hard budgets (pause) are still enforced at call time.`,
      );
      return;
    }
    const cron = loadOptional<{ CronJob: { from(p: Record<string, unknown>): { start(): void; stop(): unknown } } }>('cron', '@nestjs/schedule');
    if (!cron) {
      this.logger.warn('the cron package (a dependency of @nestjs/schedule) could not be loaded: threshold job not registered');
      this.registry = null;
      return;
    }
    if (this.registry!.doesExist('cron', this.name)) {
      throw new Error(`a cron job named "${this.name}" already exists in SchedulerRegistry: set scheduler.name to a unique name`);
    }
    const job = cron.CronJob.from({
      cronTime: s.cron ?? DEFAULT_CRON,
      onTick: async () => {
        await this.run();
      },
      start: false,
      timeZone: s.timeZone ?? this.options.timeZone ?? 'UTC',
      name: this.name,
    });
    this.registry!.addCronJob(this.name, job);
    job.start();
    this.job = job;
    this.logger.log(`threshold job "${this.name}" scheduled (${s.cron ?? DEFAULT_CRON}, ${s.timeZone ?? this.options.timeZone ?? 'UTC'})`);
  }

  /** Stops the job first, then waits for a run in progress (before the writers drain and connections close). */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    if (this.job) {
      try {
        if (this.registry?.doesExist('cron', this.name)) this.registry.deleteCronJob(this.name);
        else this.job.stop();
      } catch (e) {
        this.logger.warn(`stopping the threshold job failed: ${(e as Error).message}`);
      }
      this.job = null;
    }
    await this.current?.catch(() => undefined);
  }

  private resolveDeliveryOnce(): Promise<void> {
    this.delivery ??= this.resolveDelivery();
    return this.delivery;
  }

  private async resolveDelivery(): Promise<void> {
    ({ emitter: this.emitter, handler: this.handler } = await resolveThresholdDelivery(this.moduleRef, this.options.scheduler?.onThreshold));
  }

  private init(): Promise<void> {
    this.initialized ??= (async () => {
      await this.budgets.whenReady();
      const s = this.options.scheduler ?? {};
      const dedupe = createThresholdDedupe(this.coordination, s.keyPrefix ?? DEFAULT_KEY_PREFIX, s.alertsTable ?? DEFAULT_ALERTS_TABLE);
      await dedupe.init();
      this.dedupe = dedupe;
      if (dedupe.kind === 'memory') {
        this.logger.log('threshold alerts de-duplicate in memory: correct for a single app instance only (configure Redis or PostgreSQL for several)');
      }
    })();
    return this.initialized;
  }

  /**
   * Checks every threshold now. Runs never overlap: a call while a run is in progress joins it.
   * Errors are logged and counted; they never reach the scheduler or the caller.
   */
  run(): Promise<ThresholdRunResult> {
    if (this.closing) return Promise.resolve({ fired: [], ran: false });
    this.current ??= this.runOnce().finally(() => (this.current = null));
    return this.current;
  }

  private async runOnce(): Promise<ThresholdRunResult> {
    const result = await this.runBudgets(this.budgets.all(), true);
    await this.dedupe?.prune(this.budgets.now().getTime()).catch(() => undefined);
    return result;
  }

  /**
   * Checks the levels of `list` now (the job's runs: every budget; the runtime alerts' refresh: theirs).
   * Hard budgets are reconciled too (their counters are raised from the store), even without alerts.
   */
  async runBudgets(list: readonly CompiledBudget[], counted = false): Promise<ThresholdRunResult> {
    const fired: UsageThresholdEvent[] = [];
    try {
      await this.init();
      await this.resolveDeliveryOnce();
      if (counted) {
        this.budgets.stats.jobRuns++;
        this.budgets.stats.lastRunAt = this.budgets.now();
      }
      for (const b of list) {
        if (this.closing) break;
        try {
          const statuses = await this.budgets.statusesOf(b);
          if (b.actions.has('event') || b.actions.has('log') || b.actions.has('webhook')) for (const st of statuses) fired.push(...(await this.check(b, st)));
        } catch (e) {
          this.budgets.stats.jobErrors++;
          this.logger.error(`threshold check of budget "${b.name}" failed: ${(e as Error).message}`, (e as Error).stack);
        }
      }
    } catch (e) {
      this.budgets.stats.jobErrors++;
      this.logger.error(`threshold job failed: ${(e as Error).message}`, (e as Error).stack);
    }
    return { fired, ran: true };
  }

  /** Claims and delivers every level `st` has reached in its window. */
  private async check(b: CompiledBudget, st: UsageBudgetStatus): Promise<UsageThresholdEvent[]> {
    const out: UsageThresholdEvent[] = [];
    let drivers: Awaited<ReturnType<UsageThresholdJob['topDrivers']>> | null = null;
    const value = st.scope.value ?? SHARED;
    for (const level of b.levels) {
      if (st.percent < level) break;
      const claim = {
        budget: b.name,
        value,
        windowStart: st.window.start.getTime(),
        windowEnd: st.window.end.getTime(),
        level,
        used: st.used,
      };
      if (!(await this.dedupe!.claim(claim, this.budgets.now().getTime()))) continue;
      drivers ??= await this.topDrivers(b, value, st);
      const actions = b.runtime?.levelActions.get(level);
      // The level that pauses: a runtime `pause_agent` level, or a hard budget's limit.
      const pauses = actions ? actions.has('pause_agent') : b.hard && level >= 100 && st.used >= st.limit;
      const firedAt = this.budgets.now();
      const event: UsageThresholdEvent = {
        type: 'usage.threshold.crossed',
        id: `${b.name}:${value}:${st.window.start.toISOString()}:${level}`,
        level,
        firedAt,
        ...st,
        ...(pauses && b.runtime ? { paused: true } : {}),
        topCostDrivers: { models: drivers.models, agents: drivers.agents },
        ...alertPayload(st, drivers.allModels, firedAt, pauses),
      };
      this.budgets.stats.thresholdsFired++;
      if (pauses && b.runtime && this.onPauseLevel) {
        await this.onPauseLevel(b, event).catch((e: Error) => this.logger.error(`runtime alert "${b.runtime!.id}": storing the pause failed: ${e.message}`));
      }
      await this.deliver(b, event, actions);
      out.push(event);
    }
    return out;
  }

  private async topDrivers(b: CompiledBudget, value: string, st: UsageBudgetStatus): Promise<UsageThresholdEvent['topCostDrivers'] & { allModels: UsageGroup[] }> {
    const filters = this.budgets.filtersOf(b, value, { start: st.window.start.getTime(), end: st.window.end.getTime() });
    const top = (groups: UsageGroup[]): UsageCostDriver[] =>
      groups
        .sort((x, y) => y.costNanoUsd - x.costNanoUsd || y.totalTokens - x.totalTokens)
        .slice(0, TOP_DRIVERS)
        .map((g) => ({ key: g.key, costNanoUsd: g.costNanoUsd, costUsd: nanoUsdToString(g.costNanoUsd), totalTokens: g.totalTokens, requests: g.requests }));
    try {
      const [models, agents] = await Promise.all([this.reader.getUsageGroupedBy('modelName', filters), this.reader.getUsageGroupedBy('agentName', filters)]);
      return { models: top([...models]), agents: top(agents), allModels: models };
    } catch (e) {
      this.logger.warn(`budget "${b.name}": top cost drivers unavailable (${(e as Error).message})`);
      return { models: [], agents: [], allModels: [] };
    }
  }

  /** `levelActions`: a runtime alert's actions at this level (its webhook goes to `webhook` levels only). */
  private async deliver(b: CompiledBudget, event: UsageThresholdEvent, levelActions?: Set<string>): Promise<void> {
    if (b.actions.has('log')) {
      const fmt = (n: number) => (event.unit === 'nano_usd' ? `${nanoUsdToString(n)} USD` : `${n} ${event.unit}`);
      const scope = event.scope.value !== null ? `${event.scope.type}=${event.scope.value}` : event.scope.match ? `${event.scope.type} in [${event.scope.match.join(', ')}]` : 'global';
      this.logger.warn(
        `budget "${b.name}" (${scope}, ${event.window.type} window from ${event.window.start.toISOString()}) reached ${event.level}%: ` +
          `used ${fmt(event.used)} of ${fmt(event.limit)} (${event.percent}%), projected ${fmt(event.projection)} by ${event.window.end.toISOString()}`,
      );
    }
    const tasks: Promise<unknown>[] = [];
    if (b.actions.has('event')) {
      if (this.emitter) {
        try {
          this.emitter.emit(USAGE_THRESHOLD_EVENT, event);
        } catch (e) {
          this.handlerFailed('event listener', e);
        }
      }
      if (this.handler) {
        const h = this.handler;
        tasks.push(Promise.resolve().then(() => h(event)).catch((e) => this.handlerFailed('threshold handler', e)));
      }
    }
    if (b.actions.has('webhook') && b.webhook && (!levelActions || levelActions.has('webhook'))) tasks.push(this.notifier.deliver(b.webhook, event));
    await Promise.all(tasks);
  }

  private handlerFailed(what: string, e: unknown): void {
    this.budgets.stats.handlerErrors++;
    this.logger.error(`${what} failed for ${USAGE_THRESHOLD_EVENT}: ${(e as Error)?.message ?? e}`, (e as Error)?.stack);
  }
}
