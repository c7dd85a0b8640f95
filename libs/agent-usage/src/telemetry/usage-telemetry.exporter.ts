import { Inject, Injectable } from '@nestjs/common';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { InvalidUsageOptionsError } from '../common/usage.errors';
import type { UsageMeterProvider } from './usage-telemetry.options';

/** OTel GenAI semantic conventions (gen-ai-metrics, v1.37+): names, unit and the advised buckets. */
export const GEN_AI_TOKEN_USAGE = 'gen_ai.client.token.usage';
export const TOKEN_USAGE_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
/** Ours (no convention exists): cost in integer nano-USD, so the sums stay exact below 2^53 (9 million USD). */
export const AGENT_USAGE_COST = 'agent_usage.cost';
/** Ours: model requests, with `error.type` on failed ones (success rates per agent). */
export const AGENT_USAGE_REQUESTS = 'agent_usage.requests';

/** Our provider names -> the conventions' well-known `gen_ai.provider.name` values; others pass through. */
const PROVIDER_NAMES: Readonly<Record<string, string>> = {
  google: 'gcp.gemini',
  gemini: 'gcp.gemini',
  vertex: 'gcp.vertex_ai',
  bedrock: 'aws.bedrock',
  azure: 'azure.ai.openai',
  mistral: 'mistral_ai',
  xai: 'x_ai',
};

/** The slices of the OTel metrics API used here (structural: no import of @opentelemetry/api). */
type Attributes = Record<string, string>;
interface Histogram {
  record(value: number, attributes?: Attributes): void;
}
interface Counter {
  add(value: number, attributes?: Attributes): void;
}
interface Meter {
  createHistogram(name: string, options?: object): Histogram;
  createCounter(name: string, options?: object): Counter;
}
/** `ValueType.INT` of @opentelemetry/api. */
const INT = 0;

function globalMeterProvider(): UsageMeterProvider {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('@opentelemetry/api') as { metrics: { getMeterProvider(): UsageMeterProvider } }).metrics.getMeterProvider();
  } catch {
    throw new InvalidUsageOptionsError([
      'telemetry.enabled needs the @opentelemetry/api package (an optional peer dependency): npm install @opentelemetry/api, or pass telemetry.meterProvider',
    ]);
  }
}

/**
 * Exports every record as OpenTelemetry metrics when `telemetry.enabled`: the GenAI token usage histogram
 * (input and output), a cost counter and a request counter, with our agent name as `gen_ai.agent.name`.
 * Called by the recorder with every record: synchronous in-memory aggregation by the OTel SDK, no I/O and no await on
 * the agent's call path (the SDK's reader exports on its own schedule).
 */
@Injectable()
export class UsageTelemetryExporter {
  private readonly tokens?: Histogram;
  private readonly cost?: Counter;
  private readonly requests?: Counter;
  private readonly operation: string;
  /** `telemetry.enabled`: the recorder then calls `export` with every record. */
  readonly enabled: boolean;

  constructor(@Inject(USAGE_TRACKING_OPTIONS) options: UsageTrackingModuleOptions) {
    const t = options.telemetry;
    this.operation = t?.operationName ?? 'chat';
    this.enabled = t?.enabled === true;
    if (!t?.enabled) return;
    const provider = t.meterProvider ?? globalMeterProvider();
    const meter = provider.getMeter(t.meterName ?? 'nestjs-agent-usage') as Meter;
    this.tokens = meter.createHistogram(GEN_AI_TOKEN_USAGE, {
      description: 'Number of input and output tokens used',
      unit: '{token}',
      valueType: INT,
      advice: { explicitBucketBoundaries: TOKEN_USAGE_BUCKETS },
    });
    this.cost = meter.createCounter(AGENT_USAGE_COST, { description: 'Cost of the recorded model calls, in nano-USD (1e-9 USD)', unit: '{nanoUSD}', valueType: INT });
    this.requests = meter.createCounter(AGENT_USAGE_REQUESTS, { description: 'Recorded model requests; failed ones carry error.type', unit: '{request}', valueType: INT });
  }

  /** Exports one record (the recorder counts and logs a listener that throws; the record is kept). */
  export(r: UsageRecord): void {
    const a: Attributes = { 'gen_ai.operation.name': this.operation };
    if (r.providerName !== null) a['gen_ai.provider.name'] = PROVIDER_NAMES[r.providerName] ?? r.providerName;
    if (r.modelName !== null) {
      // Records keep one model name: the one the response reported when it did (else the configured one).
      a['gen_ai.request.model'] = r.modelName;
      a['gen_ai.response.model'] = r.modelName;
    }
    if (r.agentName !== null) a['gen_ai.agent.name'] = r.agentName;
    if (!r.success) a['error.type'] = r.errorType ?? '_OTHER';
    if (r.inputTokens !== null) this.tokens!.record(r.inputTokens, { ...a, 'gen_ai.token.type': 'input' });
    if (r.outputTokens !== null) this.tokens!.record(r.outputTokens, { ...a, 'gen_ai.token.type': 'output' });
    if (r.costNanoUsd !== null && r.costNanoUsd > 0) this.cost!.add(r.costNanoUsd, a);
    if (r.requests > 0) this.requests!.add(r.requests, a);
  }
}
