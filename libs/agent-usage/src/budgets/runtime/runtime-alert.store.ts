import type { UsageAlertInput } from './runtime-alert.interface';

/** One runtime alert as stored: its validated input, creation time and pause. */
export interface StoredUsageAlert {
  id: string;
  input: UsageAlertInput;
  createdAt: Date;
  /** Epoch ms the `pause_agent` pause ends, or null. */
  pausedUntil: number | null;
}

/**
 * Where runtime alerts live: the most shared backend configured (PostgreSQL, else Redis, else this
 * process's memory). Every instance reads the whole (small) set on each refresh.
 */
export interface RuntimeAlertStore {
  readonly kind: 'database' | 'redis' | 'memory';
  /** Every alert, oldest first. */
  list(): Promise<StoredUsageAlert[]>;
  insert(alert: StoredUsageAlert): Promise<void>;
  /** False when there was no such alert. */
  remove(id: string): Promise<boolean>;
  /** Pauses the alert's scope value until `untilMs` (kept if a later pause is stored); false when the alert is gone. */
  pause(id: string, untilMs: number): Promise<boolean>;
}

/** This process only: alerts made here are enforced here, and forgotten on restart. */
export class MemoryRuntimeAlertStore implements RuntimeAlertStore {
  readonly kind = 'memory' as const;
  private readonly alerts = new Map<string, StoredUsageAlert>();
  async list(): Promise<StoredUsageAlert[]> {
    return [...this.alerts.values()].map((a) => ({ ...a }));
  }
  async insert(alert: StoredUsageAlert): Promise<void> {
    this.alerts.set(alert.id, { ...alert });
  }
  async remove(id: string): Promise<boolean> {
    return this.alerts.delete(id);
  }
  async pause(id: string, untilMs: number): Promise<boolean> {
    const a = this.alerts.get(id);
    if (!a) return false;
    a.pausedUntil = Math.max(a.pausedUntil ?? 0, untilMs);
    return true;
  }
}
