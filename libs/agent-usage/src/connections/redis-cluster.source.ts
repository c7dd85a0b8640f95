/**
 * Redis Cluster specifics of the Redis connection: checking a `cluster: { nodes, options? }` source at
 * boot (each problem names its field), telling a Cluster client from a plain one, and describing where a
 * client points (the writer names its spool folder after it, so two clusters must not look alike).
 */
import type { UsageRedisClusterSource } from '../interfaces/peer-types.interface';
import { describe } from '../common/usage.errors';

/** True for an ioredis `Cluster` (ioredis sets `isCluster` on both kinds of client). */
export function isRedisCluster(client: unknown): boolean {
  return !!client && typeof client === 'object' && (client as { isCluster?: unknown }).isCluster === true;
}

/** `scheduler.redis: { cluster }`: a plain object, not a client (a client has `eval`). */
export function isClusterSpec(spec: unknown): spec is { cluster: UsageRedisClusterSource } {
  return !!spec && typeof spec === 'object' && 'cluster' in spec && typeof (spec as { eval?: unknown }).eval !== 'function';
}

/** `host:port` with a port in 1..65535 (a `redis://` or `rediss://` scheme allowed). */
const NODE_STRING = /^(rediss?:\/\/)?[^\s/:]+:(\d{1,5})\/?$/;

/**
 * Every problem with a `cluster` source, each starting with `field` (e.g. `cluster.nodes[1].port must be
 * ...`). Checked at boot so a typo fails the app's start, not the first write hours later.
 */
export function redisClusterProblems(value: unknown, field = 'cluster'): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${field} must be an object { nodes, options? }; got ${describe(value)}`];
  const problems: string[] = [];
  const { nodes, options, ...rest } = value as Partial<UsageRedisClusterSource> & Record<string, unknown>;
  for (const k of Object.keys(rest)) problems.push(`${field}.${k} is not an option; allowed: nodes, options`);
  if (!Array.isArray(nodes) || nodes.length === 0) {
    problems.push(`${field}.nodes must be a non-empty array of { host, port } or 'host:port'; got ${describe(nodes)}`);
  } else {
    nodes.forEach((n, i) => problems.push(...nodeProblems(n, `${field}.nodes[${i}]`)));
  }
  if (options !== undefined && (!options || typeof options !== 'object' || Array.isArray(options))) {
    problems.push(`${field}.options must be an object (ioredis ClusterOptions); got ${describe(options)}`);
  } else if (options) {
    const redisOptions = (options as { redisOptions?: unknown }).redisOptions;
    if (redisOptions !== undefined && (!redisOptions || typeof redisOptions !== 'object' || Array.isArray(redisOptions))) {
      problems.push(`${field}.options.redisOptions must be an object (ioredis RedisOptions); got ${describe(redisOptions)}`);
    }
  }
  return problems;
}

function nodeProblems(node: unknown, field: string): string[] {
  if (typeof node === 'string') {
    const m = NODE_STRING.exec(node);
    return m && validPort(Number(m[2])) ? [] : [`${field} must be 'host:port' (or redis://host:port); got ${describe(node)}`];
  }
  if (!node || typeof node !== 'object') return [`${field} must be { host, port } or 'host:port'; got ${describe(node)}`];
  const { host, port } = node as { host?: unknown; port?: unknown };
  const out: string[] = [];
  if (typeof host !== 'string' || host.length === 0) out.push(`${field}.host must be a non-empty string; got ${describe(host)}`);
  if (!validPort(port)) out.push(`${field}.port must be an integer from 1 to 65535; got ${describe(port)}`);
  return out;
}

const validPort = (p: unknown) => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65_535;

interface ClientShape {
  isCluster?: boolean;
  options?: { host?: string; port?: number; db?: number; path?: string; keyPrefix?: string };
  startupNodes?: Array<string | number | { host?: string; port?: number }>;
}

/**
 * `redis://host:port/db` for a plain client; `redis-cluster://h1:p1,h2:p2` (seed nodes, sorted) for a
 * Cluster, whose `options` hold no address: without this a Cluster would be described as the default
 * localhost:6379 and share that Redis's spool folder.
 */
export function describeRedisTarget(client: unknown): string | undefined {
  const c = client as ClientShape | undefined;
  if (!c?.options) return undefined;
  if (isRedisCluster(c)) {
    const nodes = (c.startupNodes ?? []).map((n) =>
      typeof n === 'object' ? `${n.host ?? 'localhost'}:${n.port ?? 6379}` : typeof n === 'number' ? `localhost:${n}` : n.replace(/^rediss?:\/\//, ''));
    return `redis-cluster://${[...new Set(nodes)].sort().join(',')}`;
  }
  const o = c.options;
  return `redis://${o.path ?? `${o.host ?? 'localhost'}:${o.port ?? 6379}`}/${o.db ?? 0}`;
}
