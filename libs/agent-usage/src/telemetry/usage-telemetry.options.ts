import { describe } from '../common/usage.errors';

/**
 * The part of an OpenTelemetry `MeterProvider` the exporter uses. Structural, so this library's public
 * types never import `@opentelemetry/api` (an optional peer dependency).
 */
export interface UsageMeterProvider {
  getMeter(name: string, version?: string): unknown;
}

/** Export of every record as OpenTelemetry GenAI metrics (needs `@opentelemetry/api` unless `meterProvider` is given). */
export interface UsageTelemetryOptions {
  /** Default false: nothing is loaded or exported. */
  enabled?: boolean;
  /** The MeterProvider to export through. Default: the global one of `@opentelemetry/api`. */
  meterProvider?: UsageMeterProvider;
  /** Instrumentation scope name of the meter. Default `nestjs-agent-usage`. */
  meterName?: string;
  /** `gen_ai.operation.name` of every data point (records do not carry it). Default `chat`. */
  operationName?: string;
}

const KEYS = new Set(['enabled', 'meterProvider', 'meterName', 'operationName']);

/** Problems of the `telemetry` option section, each naming the field. */
export function telemetryOptionProblems(value: unknown): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [`must be an object; got ${describe(value)}`];
  const o = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(o)) if (!KEYS.has(key)) problems.push(`${key} is not an option; allowed: ${[...KEYS].join(', ')}`);
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean') problems.push(`enabled must be a boolean; got ${describe(o.enabled)}`);
  if (o.meterProvider !== undefined && typeof (o.meterProvider as UsageMeterProvider | null)?.getMeter !== 'function') {
    problems.push(`meterProvider must be an OpenTelemetry MeterProvider (with getMeter); got ${describe(o.meterProvider)}`);
  }
  for (const key of ['meterName', 'operationName']) {
    if (o[key] !== undefined && (typeof o[key] !== 'string' || (o[key] as string).length === 0)) problems.push(`${key} must be a non-empty string; got ${describe(o[key])}`);
  }
  return problems;
}
