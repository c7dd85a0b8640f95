// Packaging host (a): NestJS 11, CommonJS, strict TypeScript with skipLibCheck false, typeorm 1.x,
// ioredis 5 and class-validator 0.14 installed. Type-checks the main entry and the /database, /cache and
// /api subpaths against the real peer types, then boots (with the HTTP module), records sums beyond 2^53
// into PostgreSQL and Redis and reads them back exactly. Exit code 0 = passed.
import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Redis, { type RedisOptions } from 'ioredis';
import { DataSource } from 'typeorm';
import { TrackUsage, UsageService, UsageTrackingModule, type UsageTotals, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { DatabaseUsageStorage, UsageDailyEntity, UsageRecordEntity, createAgentUsageMigration } from 'nestjs-agent-usage/database';
import { CacheUsageStorage, DEFAULT_CACHE_KEY_PREFIX } from 'nestjs-agent-usage/cache';
import { UsageApiModule, type UsageApiModuleOptions } from 'nestjs-agent-usage/api';

const PG_URL = process.env.USAGE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.USAGE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const tag = `pkg_${process.pid}_${Date.now().toString(36)}`;

/** An installed package's version (some packages do not export their package.json). */
function versionOf(name: string): string {
  let d = dirname(require.resolve(name));
  while (!existsSync(join(d, 'package.json')) || JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).name !== name) d = dirname(d);
  return JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).version;
}

function check(name: string, ok: boolean, detail = ''): void {
  if (!ok) throw new Error(`check failed: ${name}${detail ? ` (${detail})` : ''}`);
  console.log(`  ok ${name}`);
}

// Type-level only (never called): the real typeorm DataSource and ioredis client and options fit the
// main entry's structural option types, and the subpath exports have their real types.
export function typeChecks(ds: DataSource, redis: Redis, redisOptions: RedisOptions): UsageTrackingModuleOptions[] {
  const entities: unknown[] = [UsageRecordEntity, UsageDailyEntity];
  const migration = createAgentUsageMigration();
  const storages: unknown[] = [DatabaseUsageStorage, CacheUsageStorage, DEFAULT_CACHE_KEY_PREFIX, migration.name, entities];
  void storages;
  return [
    { storage: 'database', database: { dataSource: ds } },
    { storage: 'cache', cache: { client: redis } },
    { storage: 'cache', cache: { url: REDIS_URL, redisOptions } },
  ];
}

const apiOptions: UsageApiModuleOptions = { apiKeys: ['packaging-host-key-0123456789'] };

@Injectable()
@TrackUsage({ agentName: 'host-a' })
class Agent {
  async ask(tokens: number) {
    return { model: 'gpt-4o-mini', usage: { prompt_tokens: tokens, completion_tokens: 1, total_tokens: tokens + 1 } };
  }
}

@Module({
  imports: [
    UsageApiModule.forRoot({ path: 'usage-api', ...apiOptions }),
    UsageTrackingModule.forRoot({
      trackUsage: true,
      storage: ['database', 'cache'],
      database: { url: PG_URL, tableName: `${tag}_rec`, rollupTableName: `${tag}_day` },
      cache: { url: REDIS_URL, keyPrefix: `${tag}:` },
    }),
  ],
  providers: [Agent],
})
class AppModule {}

function expectTotals(name: string, t: UsageTotals, input: bigint, cost: bigint): void {
  check(`${name}: exact inputTokens ${input}`, t.exact.inputTokens === input.toString(), t.exact.inputTokens);
  check(`${name}: exact costNanoUsd ${cost}`, t.exact.costNanoUsd === cost.toString(), t.exact.costNanoUsd);
  check(`${name}: recordCount`, t.recordCount === 3, String(t.recordCount));
  check(`${name}: JSON round trip keeps the exact strings`, JSON.parse(JSON.stringify(t)).exact.costNanoUsd === cost.toString());
}

async function main(): Promise<void> {
  // One copy of class-validator: the library uses the host's 0.14 instead of installing its own.
  const libDir = dirname(require.resolve('nestjs-agent-usage'));
  const libCv = require.resolve('class-validator', { paths: [libDir] });
  check('library shares the host class-validator (0.14)', libCv === require.resolve('class-validator'), libCv);
  check('host class-validator is 0.14.x', /^0\.14\./.test(versionOf('class-validator')));
  check('host typeorm is 1.x, ioredis 5.x', /^1\./.test(versionOf('typeorm')) && /^5\./.test(versionOf('ioredis')));

  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  const usage = app.get(UsageService);
  check('UsageApiModule (nestjs-agent-usage/api) boots beside the tracking module', app.get(UsageApiModule) instanceof UsageApiModule);
  const agent = app.get(Agent);
  const big = 4_600_000_000_000_001;
  for (const [i, tokens] of [big, big, 7].entries()) {
    usage.record({ id: `${tag}-${i}`, agentName: 'host-a', modelName: 'm-1', providerName: 'p', inputTokens: tokens, outputTokens: 1, costNanoUsd: tokens });
  }
  const response = await agent.ask(5);
  check('tracked call returns its response', response.usage.prompt_tokens === 5);
  try {
    const input = 2n * BigInt(big) + 7n;
    expectTotals('PostgreSQL', await usage.getUsageAggregate({ agentName: 'host-a', modelName: 'm-1', providerName: 'p' }), input, input);
    expectTotals('Redis', await usage.storage('cache').getUsageAggregate({ agentName: 'host-a', modelName: 'm-1', providerName: 'p' }), input, input);
    const all = await usage.getUsageAggregate({ agentName: 'host-a' });
    check('the tracked call is recorded too', all.recordCount === 4, String(all.recordCount));
  } finally {
    await usage.clearUsage({}, { all: true });
    await usage.storage('cache').clearUsage({}, { all: true });
    await app.close();
    const ds = new DataSource({ type: 'postgres', url: PG_URL });
    await ds.initialize();
    for (const t of [`${tag}_rec`, `${tag}_day`, `${tag}_day_users`]) await ds.query(`DROP TABLE IF EXISTS "${t}"`);
    await ds.destroy();
  }
  console.log('host nest11-cjs: OK');
}

main().catch((err) => {
  console.error(`host nest11-cjs: FAILED: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
