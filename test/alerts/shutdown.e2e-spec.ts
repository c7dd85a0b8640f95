import { Logger, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { UsageTrackingModule } from 'nestjs-agent-usage';
import { PG_URL } from './alerts-test.helpers';
import { dropTablesWithPrefix } from '../database/fixtures/database-test.fixture';

/** Collects every error line the app logs. */
class ErrorLines implements LoggerService {
  readonly errors: string[] = [];
  log(): void {}
  warn(): void {}
  error(message: unknown): void {
    this.errors.push(String(message));
  }
}

const ID = `al_shut_${process.pid}`;

describe('runtime alerts at shutdown', () => {
  afterAll(() => dropTablesWithPrefix(ID));

  it('an app closed while its first alert load is still waiting for a connection logs no failure', async () => {
    const logger = new ErrorLines();
    const moduleRef = await Test.createTestingModule({
      imports: [
        UsageTrackingModule.forRoot({
          trackUsage: true,
          storage: 'database',
          // A short connect timeout: the load cut off by the close fails within the test, not 10 s later.
          database: { url: PG_URL, tableName: `${ID}_rec`, rollupTableName: `${ID}_day`, autoMigrate: true, connectionOptions: { connectTimeoutMS: 300 } },
          scheduler: { enabled: false, runtimeAlertsTable: `${ID}_rt` },
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger });
    Logger.overrideLogger(logger);
    await app.init();
    await app.close(); // at once: the first load of the runtime alerts has not got its connection yet
    await new Promise((r) => setTimeout(r, 1000));
    expect(logger.errors.filter((e) => /runtime alerts/.test(e))).toEqual([]);
  });
});
