/**
 * OpenTelemetry export, read back through the real OTel SDK (MeterProvider + PeriodicExportingMetricReader
 * + InMemoryMetricExporter): the GenAI token usage histogram (names, unit, advised buckets, attributes),
 * the cost and request counters, equal to what the library itself reports.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
  type MetricData,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import { TrackUsage, UsageService, UsageTrackingModule, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';

const chat = (model: string, input: number, output: number) => ({
  object: 'chat.completion',
  model,
  choices: [],
  usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
});
const gemini = (input: number, output: number) => ({
  modelVersion: 'gemini-2.5-flash',
  candidates: [],
  usageMetadata: { promptTokenCount: input, candidatesTokenCount: output, totalTokenCount: input + output },
});
class RateLimitError extends Error {}

@Injectable()
@TrackUsage({ agentName: 'writer' })
class Writer {
  async draft(n: number) {
    return chat('gpt-4o', 100 * n, 3 * n);
  }
  async summarize(n: number) {
    return gemini(5000 + n, 70_000);
  }
  async fail(): Promise<never> {
    throw new RateLimitError('slow down');
  }
}

function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // A long interval: the test exports by forceFlush, never on a timer.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const collect = async (): Promise<MetricData[]> => {
    await reader.forceFlush();
    const all = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((s) => s.metrics));
    exporter.reset();
    return all;
  };
  return { provider, collect };
}

async function boot(options: UsageTrackingModuleOptions): Promise<INestApplication> {
  const mod = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ trackUsage: true, ...options })], providers: [Writer] }).compile();
  const app = mod.createNestApplication();
  await app.init();
  return app;
}

const find = (ms: MetricData[], name: string) => ms.find((m) => m.descriptor.name === name);

it('exports token usage, cost and requests with the GenAI attributes, equal to the recorded totals', async () => {
  const { provider, collect } = sdk();
  const app = await boot({ telemetry: { enabled: true, meterProvider: provider } });
  const usage = app.get(UsageService);
  const writer = app.get(Writer);
  for (let n = 1; n <= 20; n++) await writer.draft(n);
  for (let n = 0; n < 3; n++) await writer.summarize(n);
  await expect(writer.fail()).rejects.toThrow(RateLimitError);
  usage.record({ agentName: 'manual', modelName: 'gpt-4o', providerName: 'openai', inputTokens: 7, outputTokens: null });

  const ms = await collect();
  const tokens = find(ms, 'gen_ai.client.token.usage') as HistogramMetricData;
  expect(tokens.descriptor).toMatchObject({ unit: '{token}', description: 'Number of input and output tokens used' });
  expect(tokens.dataPointType).toBe(DataPointType.HISTOGRAM);
  const point = (type: string, model: string, agent = 'writer') =>
    tokens.dataPoints.find((p) => p.attributes['gen_ai.token.type'] === type && p.attributes['gen_ai.request.model'] === model && p.attributes['gen_ai.agent.name'] === agent)!;
  const gptIn = point('input', 'gpt-4o');
  expect(gptIn.attributes).toEqual({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.response.model': 'gpt-4o',
    'gen_ai.agent.name': 'writer',
    'gen_ai.token.type': 'input',
  });
  // the conventions' advised buckets
  expect(gptIn.value.buckets.boundaries).toEqual([1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]);
  const byModel = Object.fromEntries((await usage.getUsageGroupedBy('modelName', { agentName: 'writer' })).map((g) => [g.key, g]));
  expect({ count: gptIn.value.count, sum: gptIn.value.sum }).toEqual({ count: 20, sum: byModel['gpt-4o'].inputTokens });
  expect(point('output', 'gpt-4o').value.sum).toBe(byModel['gpt-4o'].outputTokens);
  const gem = point('output', 'gemini-2.5-flash');
  expect(gem.attributes['gen_ai.provider.name']).toBe('gcp.gemini');
  expect({ count: gem.value.count, sum: gem.value.sum }).toEqual({ count: 3, sum: 210_000 });
  // 70,000 output tokens per call fall in the (65536, 262144] bucket
  expect(gem.value.buckets.counts[gem.value.buckets.boundaries.indexOf(262144)]).toBe(3);
  // an unknown count is not exported as 0
  expect(tokens.dataPoints.filter((p) => p.attributes['gen_ai.agent.name'] === 'manual').map((p) => p.attributes['gen_ai.token.type'])).toEqual(['input']);

  const cost = find(ms, 'agent_usage.cost') as SumMetricData;
  expect(cost.descriptor.unit).toBe('{nanoUSD}');
  const total = await usage.getUsageAggregate();
  expect(total.costNanoUsd).toBeGreaterThan(0);
  expect(cost.dataPoints.reduce((a, p) => a + p.value, 0)).toBe(total.costNanoUsd);

  const requests = find(ms, 'agent_usage.requests') as SumMetricData;
  const failed = requests.dataPoints.filter((p) => p.attributes['error.type'] !== undefined);
  expect(failed.map((p) => [p.attributes['error.type'], p.attributes['gen_ai.agent.name'], p.value])).toEqual([['RateLimitError', 'writer', 1]]);
  expect(requests.dataPoints.reduce((a, p) => a + p.value, 0)).toBe(total.requests);
  await app.close();
  await provider.shutdown();
});

it('uses the global MeterProvider of @opentelemetry/api when none is given', async () => {
  const { provider, collect } = sdk();
  metrics.setGlobalMeterProvider(provider);
  try {
    const app = await boot({ telemetry: { enabled: true, meterName: 'my-app', operationName: 'generate_content' } });
    await app.get(Writer).summarize(1);
    const ms = await collect();
    const tokens = find(ms, 'gen_ai.client.token.usage') as HistogramMetricData;
    expect(tokens.dataPoints.map((p) => [p.attributes['gen_ai.operation.name'], p.attributes['gen_ai.token.type'], p.value.sum])).toEqual([
      ['generate_content', 'input', 5001],
      ['generate_content', 'output', 70_000],
    ]);
    await app.close();
  } finally {
    metrics.disable();
    await provider.shutdown();
  }
});

it('exports nothing unless enabled, and rejects bad telemetry options by name', async () => {
  const { provider, collect } = sdk();
  const app = await boot({ telemetry: { meterProvider: provider } });
  await app.get(Writer).draft(1);
  expect(await collect()).toEqual([]);
  await app.close();
  await expect(boot({ telemetry: { enabled: 'yes' as unknown as boolean, meterProvider: {} as never, extra: 1 } as never })).rejects.toThrow(
    /telemetry\.extra is not an option[\s\S]*telemetry\.enabled must be a boolean[\s\S]*telemetry\.meterProvider must be an OpenTelemetry MeterProvider/,
  );
  await provider.shutdown();
});

it('loads nothing of OpenTelemetry when telemetry is off: the main entry and a booted module leave it out', () => {
  // A fresh process (Jest's own module registry would hide what Node loads).
  const script = `
    const { Test } = require('@nestjs/testing');
    const lib = require('./libs/agent-usage/src');
    Test.createTestingModule({ imports: [lib.UsageTrackingModule.forRoot({ trackUsage: true })] }).compile()
      .then((m) => m.createNestApplication().init())
      .then((app) => { process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((p) => p.includes('@opentelemetry')))); return app.close(); });`;
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: join(__dirname, '../..'), encoding: 'utf8', timeout: 120_000 });
  expect(JSON.parse(out)).toEqual([]);
}, 150_000);
