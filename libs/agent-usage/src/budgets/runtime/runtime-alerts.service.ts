import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { UsageTrackingModuleOptions } from '../../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../../common/usage-tracking.constants';
import { InvalidUsageInputError } from '../../common/usage.errors';
import { getUsageConnectionToken } from '../../connections/usage-connection.tokens';
import type { UsageDatabaseConnection } from '../../connections/database.connection';
import { DEFAULT_RUNTIME_ALERTS_TABLE } from '../../storage/database/schema/runtime-alerts.schema';
import { UsageBudgetService } from '../budget.service';
import { UsageBudgetCoordination } from '../budget-coordination';
import { DEFAULT_KEY_PREFIX } from '../budget.constants';
import type { CompiledBudget, UsageThresholdEvent } from '../budget-options.interface';
import { UsageThresholdJob } from '../thresholds/threshold.job';
import type { UsageAlert, UsageAlertInput } from './runtime-alert.interface';
import { compileAlert, validateAlertInput } from './runtime-alert.validator';
import { MemoryRuntimeAlertStore, type RuntimeAlertStore, type StoredUsageAlert } from './runtime-alert.store';
import { SqlRuntimeAlertStore } from './runtime-alert.sql-store';
import { RedisRuntimeAlertStore } from './runtime-alert.redis-store';

export const DEFAULT_RUNTIME_REFRESH_MS = 5_000;
const ID_RE = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * Runtime alerts: budgets made while the app runs, kept in the most shared backend so every instance
 * enforces them. Each instance loads them at bootstrap and every `scheduler.runtimeRefreshMs` (at once
 * on the instance that creates or deletes one), then checks their levels; a level fires once across
 * instances (the threshold job's de-dup store decides) and `pause_agent` stores the pause for all.
 */
@Injectable()
export class UsageRuntimeAlerts implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('UsageBudgets');
  private store: RuntimeAlertStore | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private ticking: Promise<void> | null = null;
  private closing = false;
  private lastErrorLog = 0;
  private readonly ready: Promise<void>;
  private markReady!: () => void;
  readonly refreshMs: number;

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly options: UsageTrackingModuleOptions,
    private readonly budgets: UsageBudgetService,
    private readonly job: UsageThresholdJob,
    private readonly coordination: UsageBudgetCoordination,
    @Inject(getUsageConnectionToken('database')) private readonly database: UsageDatabaseConnection,
  ) {
    this.refreshMs = options.scheduler?.runtimeRefreshMs ?? DEFAULT_RUNTIME_REFRESH_MS;
    this.ready = new Promise((r) => (this.markReady = r));
    job.onPauseLevel = (b, event) => this.pause(b, event);
  }

  /** Where alerts are kept: `database`, `redis` or `memory` (null before bootstrap or when disabled). */
  get storeKind(): RuntimeAlertStore['kind'] | null {
    return this.store?.kind ?? null;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.budgets.runtimeEnabled) return this.markReady();
    try {
      this.store = await this.chooseStore();
    } catch (e) {
      this.markReady();
      throw e;
    }
    if (this.store.kind === 'memory') this.logger.log('runtime alerts are kept in memory: enforced by this instance only (configure PostgreSQL or Redis for several)');
    // Not awaited: a store that is down at boot must not hold the app (the refresh retries it).
    void this.refresh()
      .catch((e: Error) => this.failed('loading runtime alerts', e))
      .finally(() => this.markReady());
    this.timer = setInterval(() => void this.tick(), this.refreshMs);
    this.timer.unref?.();
  }

  /** Logged at most once a minute: a store outage must not flood the log every refresh. */
  private failed(what: string, e: Error): void {
    // A load still running when the app closes fails with its connection (closed under it): not an outage.
    if (this.closing || Date.now() - this.lastErrorLog < 60_000) return;
    this.lastErrorLog = Date.now();
    this.logger.error(`${what} failed (${e.message}); retried every ${this.refreshMs} ms`);
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /** Resolves once the alerts were first loaded (or loading failed). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  private async chooseStore(): Promise<RuntimeAlertStore> {
    await this.coordination.resolve();
    const s = this.options.scheduler ?? {};
    if (s.coordination === 'memory') return new MemoryRuntimeAlertStore();
    // PostgreSQL first: alerts are configuration, and the database is what survives restarts best.
    if (this.coordination.sql || this.database.available()) {
      const db = this.database;
      return new SqlRuntimeAlertStore({ schema: db.schema, query: (sql, params) => db.query(sql, params) }, s.runtimeAlertsTable ?? DEFAULT_RUNTIME_ALERTS_TABLE);
    }
    if (this.coordination.redis) return new RedisRuntimeAlertStore(this.coordination.redis, s.keyPrefix ?? DEFAULT_KEY_PREFIX);
    return new MemoryRuntimeAlertStore();
  }

  /** One refresh, then a check of the runtime levels; never two at once. */
  tick(): Promise<void> {
    if (this.closing || !this.store) return Promise.resolve();
    this.ticking ??= (async () => {
      try {
        await this.refresh();
        if (this.budgets.runtime.length > 0 && !this.closing) await this.job.runBudgets(this.budgets.runtime);
      } catch (e) {
        this.failed('refreshing runtime alerts', e as Error);
      } finally {
        this.ticking = null;
      }
    })();
    return this.ticking;
  }

  /** Reloads every alert from the store into the budgets every call and record is checked against. */
  async refresh(): Promise<StoredUsageAlert[]> {
    const stored = await this.requireStore().list();
    const list: CompiledBudget[] = [];
    for (const a of stored) {
      try {
        list.push(compileAlert(a.id, a.input, a.pausedUntil, this.options.scheduler?.runtimeWebhook));
      } catch (e) {
        this.logger.error(`runtime alert "${a.id}" is not valid and is skipped: ${(e as Error).message}`);
      }
    }
    this.budgets.setRuntimeBudgets(list);
    return stored;
  }

  async create(raw: UsageAlertInput): Promise<UsageAlert> {
    const input = validateAlertInput(raw);
    await this.ready;
    const store = this.requireStore();
    const stored: StoredUsageAlert = { id: randomUUID(), input, createdAt: this.budgets.now(), pausedUntil: null };
    await store.insert(stored);
    await this.refresh();
    return this.view(stored);
  }

  async list(): Promise<UsageAlert[]> {
    await this.ready;
    return (await this.refresh()).map((a) => this.view(a));
  }

  async delete(id: string): Promise<boolean> {
    if (typeof id !== 'string' || !ID_RE.test(id)) throw new InvalidUsageInputError('id', 'the id of a runtime alert (letters, digits, - and _)', id);
    await this.ready;
    const removed = await this.requireStore().remove(id);
    await this.refresh();
    return removed;
  }

  /** Called by the threshold job when it claimed a `pause_agent` level: stored for every instance, applied here at once. */
  private async pause(b: CompiledBudget, event: UsageThresholdEvent): Promise<void> {
    const until = event.window.end.getTime();
    if (!(await this.requireStore().pause(b.runtime!.id, until))) return;
    b.runtime!.pausedUntil = Math.max(b.runtime!.pausedUntil ?? 0, until);
    this.logger.warn(`runtime alert "${b.runtime!.id}" paused ${event.scope.type}=${b.runtime!.value} until ${event.window.end.toISOString()} (${event.percent}% of its ${event.window.type} budget)`);
  }

  private requireStore(): RuntimeAlertStore {
    if (!this.store) {
      throw new Error(this.budgets.runtimeEnabled ? 'runtime alerts are not loaded yet (the app has not finished bootstrapping)' : 'runtime alerts are off (scheduler.runtimeAlerts: false)');
    }
    return this.store;
  }

  private view(a: StoredUsageAlert): UsageAlert {
    const paused = a.pausedUntil !== null && a.pausedUntil > this.budgets.now().getTime();
    return { ...a.input, id: a.id, createdAt: a.createdAt.toISOString(), paused, pausedUntil: paused ? new Date(a.pausedUntil!).toISOString() : null };
  }
}
