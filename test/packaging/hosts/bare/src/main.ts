// Packaging host (c): only the package, @nestjs/common, @nestjs/core, reflect-metadata and rxjs; no
// optional peer (typeorm, pg, ioredis, @nestjs/typeorm, @nestjs/schedule, @jest/globals). The main entry
// must type-check with skipLibCheck false, boot, record and read back exact sums, and every feature that
// needs a missing package must say which ones and how to install them. Exit code 0 = passed.
import 'reflect-metadata';
import { Injectable, Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MissingUsagePackageError, TrackUsage, UsageService, UsageTrackingModule, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';

// Loads an entry point at run time, as a host's `import` compiled to CommonJS does.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = (id: string): unknown => require(id);

function check(name: string, ok: boolean, detail = ''): void {
  if (!ok) throw new Error(`check failed: ${name}${detail ? ` (${detail})` : ''}`);
  console.log(`  ok ${name}`);
}

@Injectable()
@TrackUsage({ agentName: 'bare' })
class Agent {
  async ask() {
    return { model: 'm-1', usage: { prompt_tokens: 120, completion_tokens: 45, total_tokens: 165 } };
  }
}

class Warnings implements LoggerService {
  readonly lines: string[] = [];
  log() {}
  error(m: unknown) {
    this.lines.push(String(m));
  }
  warn(m: unknown) {
    this.lines.push(String(m));
  }
}

async function boot(options: UsageTrackingModuleOptions, logger: LoggerService | false = false) {
  @Module({ imports: [UsageTrackingModule.forRoot(options)], providers: [Agent] })
  class AppModule {}
  return NestFactory.createApplicationContext(AppModule, { logger, abortOnError: false });
}

async function expectMissing(name: string, run: () => unknown, packages: string[]): Promise<void> {
  let error: unknown;
  try {
    await run();
  } catch (e) {
    error = e;
  }
  const message = error instanceof Error ? error.message : String(error);
  check(`${name}: MissingUsagePackageError`, error instanceof Error && error.name === 'MissingUsagePackageError', message);
  check(`${name}: names ${packages.join(', ')}`, packages.every((p) => message.includes(p)), message);
  check(`${name}: says "npm install ${packages.join(' ')}"`, message.includes(`npm install ${packages.join(' ')}`), message);
}

async function main(): Promise<void> {
  for (const peer of ['typeorm', 'pg', 'ioredis', '@nestjs/typeorm', '@nestjs/schedule', '@jest/globals', '@nestjs/swagger']) {
    let found = true;
    try {
      require.resolve(peer);
    } catch {
      found = false;
    }
    check(`${peer} is not installed`, !found);
  }

  const app = await boot({ trackUsage: true, storage: 'memory' });
  try {
    const usage = app.get(UsageService);
    await app.get(Agent).ask();
    const big = 4_600_000_000_000_001;
    usage.record({ agentName: 'big', inputTokens: big, outputTokens: 0, costNanoUsd: big });
    usage.record({ agentName: 'big', inputTokens: big, outputTokens: 0, costNanoUsd: big });
    const t = await usage.getUsageAggregate({ agentName: 'bare' });
    check('aggregate of the tracked call', t.recordCount === 1 && t.inputTokens === 120 && t.totalTokens === 165, JSON.stringify(t));
    const b = await usage.getUsageAggregate({ agentName: 'big' });
    const want = (2n * BigInt(big)).toString();
    check(`exact sum beyond 2^53: ${want}`, b.exact.inputTokens === want && b.exact.costNanoUsd === want, JSON.stringify(b.exact));
    check('costUsd exact', b.costUsd === '9200000.000000002', b.costUsd);
  } finally {
    await app.close();
  }

  check('MissingUsagePackageError is exported', typeof MissingUsagePackageError === 'function');
  await expectMissing("storage 'database' with database.url", () => boot({ storage: 'database', database: { url: 'postgres://u@127.0.0.1:1/x' } }), ['typeorm', 'pg']);
  await expectMissing("storage 'database' on the host connection", () => boot({ storage: 'database' }), ['@nestjs/typeorm', 'typeorm', 'pg']);
  await expectMissing("storage 'cache'", () => boot({ storage: 'cache', cache: { url: 'redis://127.0.0.1:1' } }), ['ioredis']);
  await expectMissing("import 'nestjs-agent-usage/database'", () => load('nestjs-agent-usage/database'), ['typeorm', 'pg']);
  await expectMissing("import 'nestjs-agent-usage/cache'", () => load('nestjs-agent-usage/cache'), ['ioredis']);
  await expectMissing("import 'nestjs-agent-usage/testing'", () => load('nestjs-agent-usage/testing'), ['@jest/globals']);

  // The HTTP module needs no optional peer (@nestjs/swagger decorators become no-ops) and refuses to
  // boot without an access rule, naming the options.
  const api = load('nestjs-agent-usage/api') as { UsageApiModule: { forRoot(o: object): object } };
  check("'nestjs-agent-usage/api' loads without @nestjs/swagger", typeof api.UsageApiModule?.forRoot === 'function');
  let refusal: unknown;
  try {
    @Module({ imports: [UsageTrackingModule.forRoot({ storage: 'memory' }), api.UsageApiModule.forRoot({}) as never] })
    class ApiModule {}
    await (await NestFactory.createApplicationContext(ApiModule, { logger: false, abortOnError: false })).close();
  } catch (e) {
    refusal = e;
  }
  const refusalText = refusal instanceof Error ? `${refusal.name}: ${refusal.message}` : String(refusal);
  check('UsageApiModule without an access rule refuses to boot', /InvalidUsageOptionsError/.test(refusalText) && /guard, apiKeys or public/.test(refusalText), refusalText);

  // Budgets without @nestjs/schedule: the app still boots; the warning names the package to install.
  const warnings = new Warnings();
  const withBudgets = await boot({ trackUsage: true, budgets: [{ name: 'daily', scope: 'global', window: 'day', limit: '5.00' }] }, warnings);
  await withBudgets.close();
  const hint = warnings.lines.find((l) => l.includes('@nestjs/schedule')) ?? '';
  check('threshold job warning says "npm install @nestjs/schedule"', hint.includes('npm install @nestjs/schedule'), warnings.lines.join(' | '));
  console.log('host bare: OK');
}

main().catch((err) => {
  console.error(`host bare: FAILED: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
