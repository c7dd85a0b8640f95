/**
 * The alerts table (the threshold job's de-dup store) is part of the shipped schema: the migrations and the
 * driver's autoMigrate create it from the same DDL (storage/database/schema). Each scenario works in its
 * own PostgreSQL schema, dropped at the end.
 */
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { UsageService, UsageThresholdJob, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import {
  CreateAgentUsageAlerts1796500000000,
  createAgentUsageAlertsMigration,
  createAgentUsageMigration,
} from '../../libs/agent-usage/src/storage/database';
import { createAgentUsageTables } from '../../libs/agent-usage/src/storage/database/schema/agent-usage.schema';
import { PG_URL, TestClock, bootApp, unique } from '../budgets/budget-test.helpers';
import { topLevelTables } from '../support/pg-tables';

jest.setTimeout(60_000);

const admin = new Pool({ connectionString: PG_URL, max: 2 });
const schemas: string[] = [];
const newSchema = (label: string) => {
  const s = unique(label).toLowerCase();
  schemas.push(s);
  return s;
};
const tablesOf = (schema: string) => topLevelTables(admin, schema);
const columnsOf = async (schema: string, table: string) =>
  (await admin.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, [schema, table])).rows;

afterAll(async () => {
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await admin.end();
});

const clock = new TestClock(new Date());
const budgets: UsageTrackingModuleOptions['budgets'] = [
  { name: 'mig-alert', scope: 'global', window: 'day', metric: 'tokens', limit: 100, levels: [50], actions: ['event'] },
];

describe('an install whose migrations predate the alerts table', () => {
  it('gets it from CreateAgentUsageAlerts1796500000000 (idempotent; down drops the alerts table alone), and the job claims in it', async () => {
    const schema = newSchema('alerts_up');
    const ds = new DataSource({ type: 'postgres', url: PG_URL });
    await ds.initialize();
    try {
      // The state an earlier version's migration left: ledger and rollups, no alerts table.
      await ds.transaction((m) => createAgentUsageTables(m.queryRunner!, { tableName: 'agent_usage_records', rollupTableName: 'agent_usage_daily', schema }, 'UTC', { alerts: false }));
      expect(await tablesOf(schema)).toEqual(['agent_usage_daily', 'agent_usage_daily_hour_totals', 'agent_usage_daily_hours', 'agent_usage_daily_users', 'agent_usage_records']);

      expect(new CreateAgentUsageAlerts1796500000000().name).toBe('CreateAgentUsageAlerts1796500000000');
      const Alerts = createAgentUsageAlertsMigration({ schema, name: 'CreateAgentUsageAlerts1796500000000' });
      const migrating = new DataSource({ type: 'postgres', url: PG_URL, migrations: [Alerts], migrationsTableName: 'migrations', schema });
      await migrating.initialize();
      try {
        expect((await migrating.runMigrations()).map((m) => m.name)).toEqual(['CreateAgentUsageAlerts1796500000000']);
        expect(await migrating.runMigrations()).toEqual([]);
      } finally {
        await migrating.destroy();
      }
      // Run by hand again (no transaction): nothing changes.
      const qr = ds.createQueryRunner();
      await new Alerts().up(qr);
      await qr.release();
      expect(await tablesOf(schema)).toEqual(['agent_usage_alerts', 'agent_usage_daily', 'agent_usage_daily_hour_totals', 'agent_usage_daily_hours', 'agent_usage_daily_users', 'agent_usage_records', 'migrations']);
      expect(await columnsOf(schema, 'agent_usage_alerts')).toEqual([
        { column_name: 'budget_name', data_type: 'text' },
        { column_name: 'scope_value', data_type: 'text' },
        { column_name: 'window_start', data_type: 'timestamp with time zone' },
        { column_name: 'level', data_type: 'integer' },
        { column_name: 'window_end', data_type: 'timestamp with time zone' },
        { column_name: 'used', data_type: 'bigint' },
        { column_name: 'fired_at', data_type: 'timestamp with time zone' },
      ]);

      // A host DataSource (autoMigrate off): the job claims in the migrated table.
      const app = await bootApp({ trackUsage: true, storage: 'memory', database: { dataSource: ds, schema }, budgets, scheduler: { coordination: 'database', enabled: false } }, { clock });
      try {
        app.get(UsageService).record({ agentName: 'a', inputTokens: 60, outputTokens: 0, recordedAt: clock.current });
        expect((await app.get(UsageThresholdJob).run()).fired.map((e) => e.level)).toEqual([50]);
        expect((await admin.query(`SELECT budget_name, level FROM "${schema}".agent_usage_alerts`)).rows).toEqual([{ budget_name: 'mig-alert', level: 50 }]);
      } finally {
        await app.close();
      }
      expect(ds.isInitialized).toBe(true); // the host's: never closed by the library

      const down = ds.createQueryRunner();
      await new Alerts().down(down);
      await down.release();
      expect(await tablesOf(schema)).toEqual(['agent_usage_daily', 'agent_usage_daily_hour_totals', 'agent_usage_daily_hours', 'agent_usage_daily_users', 'agent_usage_records', 'migrations']);
    } finally {
      await ds.destroy();
    }
  });
});

describe('a new install', () => {
  it('gets the alerts table from createAgentUsageMigration with the other three', async () => {
    const schema = newSchema('alerts_new');
    const ds = new DataSource({ type: 'postgres', url: PG_URL, migrations: [createAgentUsageMigration({ schema, alertsTableName: 'fired' })], migrationsTableName: 'migrations', schema });
    await ds.initialize();
    try {
      await ds.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      const ran = await ds.runMigrations();
      // Names of table sets without a custom alerts table are unchanged; a custom one is part of the name.
      expect(ran.map((m) => m.name)).toEqual([`CreateAgentUsageTables_${schema}_agent_usage_records_agent_usage_daily_fired_1795377442016`]);
      expect(await tablesOf(schema)).toEqual(['agent_usage_daily', 'agent_usage_daily_hour_totals', 'agent_usage_daily_hours', 'agent_usage_daily_users', 'agent_usage_records', 'fired', 'migrations']);
    } finally {
      await ds.destroy();
    }
  });

  it("gets it from the driver's autoMigrate when budgets are configured (named by scheduler.alertsTable), not otherwise", async () => {
    const withBudgets = newSchema('alerts_auto');
    const app = await bootApp(
      { storage: 'database', database: { url: PG_URL, schema: withBudgets }, budgets, scheduler: { alertsTable: 'job_alerts', coordination: 'memory', enabled: false } },
      { clock },
    );
    await app.close();
    // coordination 'memory': the job never touched PostgreSQL, so the driver made it (and the runtime alerts table).
    expect(await tablesOf(withBudgets)).toEqual(['agent_usage_daily', 'agent_usage_daily_hour_totals', 'agent_usage_daily_hours', 'agent_usage_daily_users', 'agent_usage_records', 'agent_usage_runtime_alerts', 'job_alerts']);

    const without = newSchema('alerts_none');
    const plain = await bootApp({ storage: 'database', database: { url: PG_URL, schema: without } }, { clock });
    await plain.close();
    expect(await tablesOf(without)).toEqual(['agent_usage_daily', 'agent_usage_daily_hour_totals', 'agent_usage_daily_hours', 'agent_usage_daily_users', 'agent_usage_records']);
  });
});
