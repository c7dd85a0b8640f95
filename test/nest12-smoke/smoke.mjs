// Nest 12 smoke check: a plain-JavaScript ESM host app on NestJS 12 loads the built, CommonJS
// nestjs-agent-usage package (Node >= 20.19 can require() ESM), tracks one agent and reads the
// totals back. Exits non-zero on any failure. Run it through run.sh, which builds and installs first.
import 'reflect-metadata';
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Injectable, Module } from '@nestjs/common';
import { ModulesContainer, NestFactory } from '@nestjs/core';
import { TrackUsage, UsageService, UsageTrackingModule } from 'nestjs-agent-usage';

// Never hang: a process kept alive after the checks is a failure too.
setTimeout(() => {
  console.error('nest12-smoke: FAILED: still running after 60 s');
  process.exit(1);
}, 60_000).unref();
process.on('uncaughtException', (err) => fail(err));
process.on('unhandledRejection', (err) => fail(err));

function fail(err) {
  console.error(`nest12-smoke: FAILED: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
}

const here = dirname(fileURLToPath(import.meta.url));
const smokeRequire = createRequire(import.meta.url);
const checks = [];

function check(name, ok, detail = '') {
  checks.push(name);
  if (!ok) throw new Error(`check failed: ${name}${detail ? ` (${detail})` : ''}`);
}
function checkEqual(name, actual, expected) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(name, a === e, `expected ${e}, got ${a}`);
}

// ---- 1. Which copies of Nest run, before anything boots -------------------------------------
const coreVersion = smokeRequire('@nestjs/core/package.json').version;
const commonVersion = smokeRequire('@nestjs/common/package.json').version;
check('@nestjs/core is 12.x', /^12\./.test(coreVersion), coreVersion);
check('@nestjs/common is 12.x', /^12\./.test(commonVersion), commonVersion);

// The library must be an installed copy inside this folder (install-links=true), not a symlink
// into libs/agent-usage: from there Node would resolve the workspace's Nest 11.
const libEntry = realpathSync(smokeRequire.resolve('nestjs-agent-usage'));
const ownModules = realpathSync(join(here, 'node_modules')) + sep;
check('nestjs-agent-usage is installed inside test/nest12-smoke/node_modules', libEntry.startsWith(ownModules), libEntry);

// Every Nest import of the library resolves to the very files this app uses (one copy of Nest).
const libRequire = createRequire(libEntry);
for (const pkg of ['@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs']) {
  checkEqual(`library resolves the app's ${pkg}`, libRequire.resolve(pkg), smokeRequire.resolve(pkg));
}
checkEqual("library's @nestjs/core version", libRequire('@nestjs/core/package.json').version, coreVersion);
check('library and app share one @nestjs/common module instance', libRequire('@nestjs/common').Injectable === Injectable);

// ---- 2. A host app written with decorators applied as functions ------------------------------
const RESPONSE = {
  id: 'chatcmpl-smoke',
  object: 'chat.completion',
  created: 1767225600,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }],
  usage: {
    prompt_tokens: 120,
    completion_tokens: 45,
    total_tokens: 165,
    prompt_tokens_details: { cached_tokens: 20 },
    completion_tokens_details: { reasoning_tokens: 15 },
  },
};

class SmokeAgent {
  async ask(prompt) {
    // A fresh object per call: the library records each response object once.
    return structuredClone({ ...RESPONSE, choices: [{ ...RESPONSE.choices[0], message: { role: 'assistant', content: `pong: ${prompt}` } }] });
  }
}
Injectable()(SmokeAgent);
TrackUsage({ agentName: 'smoke' })(SmokeAgent);

const REDIS_URL = process.env.USAGE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const CACHE_PREFIX = `nest12-smoke-${process.pid}-${Date.now()}:`;
class AppModule {}
Module({
  imports: [
    UsageTrackingModule.forRootAsync({
      // The second driver is Redis through this folder's ioredis 6.
      useFactory: () => ({ trackUsage: true, storage: ['memory', 'cache'], cache: { url: REDIS_URL, keyPrefix: CACHE_PREFIX } }),
    }),
  ],
  providers: [SmokeAgent],
})(AppModule);

// ---- 3. Boot, call, read back ------------------------------------------------------------------
const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
try {
  const usage = app.get(UsageService);
  check('UsageService is resolved', usage instanceof UsageService);

  // The instance was created by this (Nest 12) container: find its wrapper in the app's modules.
  let wrapper;
  for (const mod of app.get(ModulesContainer).values()) {
    for (const w of mod.providers.values()) if (w.instance === usage) wrapper = w;
  }
  check("UsageService was instantiated by the Nest 12 container", wrapper !== undefined && wrapper.metatype === UsageService);

  const agent = app.get(SmokeAgent);
  const first = await usage.runWithContext({ userId: 'u1' }, () => agent.ask('ping 1'));
  checkEqual('agent returns its response untouched', first.choices[0].message.content, 'pong: ping 1');
  await usage.runWithContext({ userId: 'u2', chatName: 'c1' }, () => agent.ask('ping 2'));

  const total = await usage.getUsageAggregate({ agentName: 'smoke' });
  const picked = (t) => ({
    recordCount: t.recordCount,
    requests: t.requests,
    inputTokens: t.inputTokens,
    cachedInputTokens: t.cachedInputTokens,
    outputTokens: t.outputTokens,
    reasoningTokens: t.reasoningTokens,
    totalTokens: t.totalTokens,
    failedCount: t.failedCount,
    usageMissingCount: t.usageMissingCount,
  });
  checkEqual('aggregate of two calls', picked(total), {
    recordCount: 2,
    requests: 2,
    inputTokens: 240,
    cachedInputTokens: 40,
    outputTokens: 90,
    reasoningTokens: 30,
    totalTokens: 330,
    failedCount: 0,
    usageMissingCount: 0,
  });
  checkEqual('the cache driver (ioredis 6) holds the same totals', picked(await usage.storage('cache').getUsageAggregate({ agentName: 'smoke' })), picked(total));
  checkEqual('ioredis is 6.x', /^6\./.test(smokeRequire('ioredis/package.json').version), true);

  // Sums beyond 2^53 stay exact (decimal strings next to the numbers), on both drivers.
  const big = 4_600_000_000_000_001;
  for (const id of ['big-1', 'big-2']) usage.record({ id, agentName: 'big', inputTokens: big, outputTokens: 0, costNanoUsd: big });
  const want = (2n * BigInt(big)).toString();
  for (const reader of [usage, usage.storage('cache')]) {
    const t = await reader.getUsageAggregate({ agentName: 'big' });
    checkEqual('exact sums beyond 2^53', [t.exact.inputTokens, t.exact.costNanoUsd, t.costUsd], [want, want, '9200000.000000002']);
  }

  const byUser = await usage.getUsageGroupedBy('userId', { agentName: 'smoke' });
  checkEqual('grouped by userId', byUser.map((g) => [g.key, g.recordCount, g.totalTokens]), [
    ['u1', 1, 165],
    ['u2', 1, 165],
  ]);
  const page = await usage.getUsage({ userId: 'u2' });
  checkEqual('record attribution', page.items.map((r) => [r.agentName, r.userId, r.chatName, r.providerName, r.modelName]), [
    ['smoke', 'u2', 'c1', 'openai', 'gpt-4o-mini'],
  ]);

  console.log(
    `nest12-smoke: OK on @nestjs/core ${coreVersion} (node ${process.version}): ${checks.length} checks; ` +
      `aggregate records=${total.recordCount} input=${total.inputTokens} output=${total.outputTokens} total=${total.totalTokens}`,
  );
} finally {
  await app.get(UsageService).storage('cache').clearUsage({}, { all: true });
  await app.close();
}
