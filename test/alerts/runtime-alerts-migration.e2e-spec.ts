/**
 * The runtime alerts table: a new migration class (the shipped ones are unchanged), the same DDL as the
 * driver's schema setup and as the store's first alert. Each scenario works in its own schema, dropped after.
 */
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { InvalidUsageOptionsError, UsageRuntimeAlerts, UsageService } from 'nestjs-agent-usage';
import { CreateAgentUsageRuntimeAlerts1797000000000, createAgentUsageRuntimeAlertsMigration } from '../../libs/agent-usage/src/storage/database';
import { PG_URL, WATCHED, bootAlertsApp } from './alerts-test.helpers';
import { topLevelTables } from '../support/pg-tables';

jest.setTimeout(60_000);

const admin = new Pool({ connectionString: PG_URL, max: 2 });
const schemas: string[] = [];
const newSchema = (label: string) => {
  const s = `al_${label}_${process.pid}_${Date.now().toString(36)}`;
  schemas.push(s);
  return s;
};
const tablesOf = (schema: string) => topLevelTables(admin, schema);

afterAll(async () => {
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await admin.end();
});

it('CreateAgentUsageRuntimeAlerts1797000000000 creates the table (idempotent), an app stores alerts in it, down drops it', async () => {
  expect(new CreateAgentUsageRuntimeAlerts1797000000000().name).toBe('CreateAgentUsageRuntimeAlerts1797000000000');
  const schema = newSchema('mig');
  const Migration = createAgentUsageRuntimeAlertsMigration({ schema, tableName: 'rt_alerts' });
  const ds = new DataSource({ type: 'postgres', url: PG_URL, migrations: [Migration], migrationsTableName: 'migrations', schema });
  await ds.initialize();
  try {
    await ds.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    expect((await ds.runMigrations()).map((m) => m.name)).toEqual([`CreateAgentUsageRuntimeAlerts_${schema}_rt_alerts_1797000000000`]);
    const qr = ds.createQueryRunner();
    await new Migration().up(qr); // by hand, no transaction: nothing changes
    await qr.release();
    expect(await tablesOf(schema)).toEqual(['migrations', 'rt_alerts']);

    // The host's DataSource, no storage table: the alerts land in the migrated table.
    const app = await bootAlertsApp({ storage: 'memory', database: { dataSource: ds, schema }, scheduler: { enabled: false, coordination: 'database', runtimeAlertsTable: 'rt_alerts' } });
    try {
      expect(app.get(UsageRuntimeAlerts).storeKind).toBe('database');
      const alert = await app.get(UsageService).createAlert({ agentName: WATCHED, limit: '3', window: 'week', alerts: [{ percent: 90, action: 'pause_agent' }] });
      const rows = (await admin.query(`SELECT id, definition, paused_until FROM "${schema}".rt_alerts`)).rows;
      expect(rows).toEqual([{ id: alert.id, definition: { agentName: WATCHED, scope: { dimension: 'agentName', value: WATCHED }, limit: '3', window: 'week', metric: 'cost', alerts: [{ percent: 90, action: 'pause_agent' }] }, paused_until: null }]);
    } finally {
      await app.close();
    }
    expect(ds.isInitialized).toBe(true);
    const down = ds.createQueryRunner();
    await new Migration().down(down);
    await down.release();
    expect(await tablesOf(schema)).toEqual(['migrations']);
  } finally {
    await ds.destroy();
  }
});

it('refuses bad names', () => {
  expect(() => createAgentUsageRuntimeAlertsMigration({ tableName: 'Bad Name' })).toThrow(InvalidUsageOptionsError);
  expect(() => createAgentUsageRuntimeAlertsMigration({ name: 'NoTimestamp' })).toThrow(/13-digit timestamp/);
});

it('without budgets the driver makes no runtime alerts table: the first alert does', async () => {
  const schema = newSchema('lazy');
  const app = await bootAlertsApp({ storage: 'database', database: { url: PG_URL, schema, tableName: 'al_rec', rollupTableName: 'al_day' }, scheduler: { enabled: false } });
  try {
    const usage = app.get(UsageService);
    expect(await usage.listAlerts()).toEqual([]);
    expect(await tablesOf(schema)).toEqual(['al_day', 'al_day_hour_totals', 'al_day_hours', 'al_day_users', 'al_rec']);
    await usage.createAlert({ scope: { dimension: 'userId', value: 'u1' }, dailyBudget: 1, alerts: [{ percent: 100, action: 'pause_agent' }] });
    expect(await tablesOf(schema)).toEqual(['agent_usage_runtime_alerts', 'al_day', 'al_day_hour_totals', 'al_day_hours', 'al_day_users', 'al_rec']);
    expect((await usage.listAlerts()).map((a) => a.scope)).toEqual([{ dimension: 'userId', value: 'u1' }]);
  } finally {
    await app.close();
  }
});
