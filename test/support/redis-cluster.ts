/**
 * A real Redis Cluster for the tests: N `redis-server --cluster-enabled yes` processes on loopback ports
 * (7100-7999, a random free block so parallel Jest workers and other suites do not collide), each with
 * its own folder under one mkdtemp directory, joined by `redis-cli --cluster create`. Nothing is
 * persisted (`--save "" --appendonly no`): a node that restarts gets its data back from the node that
 * took its slots over, as in production. A small node timeout (1 s) makes an automatic failover take
 * ~2 s instead of ~30 s.
 *
 * Always call stop() in afterAll: it kills every node (a process exit hook does it too, in case Jest
 * never reaches afterAll).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis, { Cluster, type ClusterOptions } from 'ioredis';

const run = promisify(execFile);
const HOST = '127.0.0.1';
const PORT_MIN = 7100;
const PORT_MAX = 7999;
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';

export interface RedisClusterNode {
  host: string;
  port: number;
}

export interface RedisClusterHandle {
  /** Every node, masters and replicas, as started (roles change after a failover: see masterPorts()). */
  nodes: RedisClusterNode[];
  /** Ports of the nodes that are masters now (sorted). */
  masterPorts(): Promise<number[]>;
  /** An ioredis Cluster over the nodes; the caller quits it. */
  client(options?: ClusterOptions): Cluster;
  /**
   * The replica of master `port` takes its slots over. Default: CLUSTER FAILOVER on the replica (the
   * replica first catches up with the master, so no acknowledged write is lost). `{ kill: true }`:
   * SIGKILL the master instead (writes not yet replicated are lost, as in a real crash); the killed
   * node stays down until restart(port).
   */
  failover(port: number, opts?: { kill?: boolean }): Promise<void>;
  /**
   * Stops node `port` (SIGTERM: a Redis 7 master waits for its replicas to catch up before exiting),
   * waits for the cluster to promote its replica if it was a master, starts it again and waits until it
   * has rejoined (as a replica) and the cluster is healthy. Also starts a node left down by failover(kill).
   */
  restart(port: number): Promise<void>;
  /** Waits until every running node says cluster_state:ok with all 16384 slots served. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every node and deletes the data folder. */
  stop(): Promise<void>;
}

export interface StartRedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** First port of the block; default: a random free block in 7100-7999. */
  basePort?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One command on one node over a short-lived connection (no retries: a down node answers with an error;
 * a short disconnectTimeout so a socket to a node that is starting or dying does not keep Jest alive). */
async function nodeCommand(port: number, ...args: (string | number)[]): Promise<string> {
  const redis = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, enableOfflineQueue: false, disconnectTimeout: 20 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return String(await redis.call(String(args[0]), ...args.slice(1).map(String)));
  } finally {
    redis.disconnect();
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e; // a node still starting or just killed: try again
    }
    if (Date.now() > deadline) throw new Error(`redis-cluster: timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(50);
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/**
 * A block of `count` ports whose client ports and cluster bus ports (+10000) are all free (exported for a
 * test that points the library at a cluster before starting it there with `basePort`).
 */
export async function freeBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 2 - count));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const checks = await Promise.all(ports.flatMap((p) => [portFree(p), portFree(p + 10_000)]));
    if (checks.every(Boolean)) return base;
  }
  throw new Error('redis-cluster: no free block of ports in 7100-7999');
}

interface NodeEntry {
  port: number;
  flags: string[];
  masterId: string;
  id: string;
  slots: number;
  connected: boolean;
}

/** CLUSTER NODES as seen by node `port`. */
async function clusterNodes(port: number): Promise<NodeEntry[]> {
  return (await nodeCommand(port, 'CLUSTER', 'NODES'))
    .trim()
    .split('\n')
    .map((line) => {
      const [id, addr, flags, masterId, , , , link, ...slots] = line.split(' ');
      return { id, port: Number(addr.split('@')[0].split(':').pop()), flags: flags.split(','), masterId, slots: slots.length, connected: link === 'connected' };
    });
}

class RedisCluster implements RedisClusterHandle {
  readonly nodes: RedisClusterNode[];
  private readonly procs = new Map<number, ChildProcess>();
  private readonly onExit = () => this.killAll();

  constructor(
    private readonly dir: string,
    ports: number[],
  ) {
    this.nodes = ports.map((port) => ({ host: HOST, port }));
    process.once('exit', this.onExit);
  }

  async startNode(port: number): Promise<void> {
    const dir = join(this.dir, String(port));
    mkdirSync(dir, { recursive: true });
    // Loopback only, nothing persisted but nodes.conf (which keeps the node's identity across restart()).
    const args = ['--port', String(port), '--bind', HOST, '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'];
    args.push('--cluster-node-timeout', '1000', '--save', '', '--appendonly', 'no', '--logfile', 'redis.log', '--daemonize', 'no');
    // A replica may always take over, however long it was cut off (the test decides when nodes go down).
    args.push('--cluster-replica-validity-factor', '0');
    const proc = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    this.procs.set(port, proc);
    const exited = new Promise<never>((_, reject) => {
      proc.once('exit', (code) => reject(new Error(`redis-server on ${port} exited (${code}): ${this.log(port)}`)));
      // ENOENT: no redis-server on PATH (an 'error' event nobody listens to would crash the Jest worker).
      proc.once('error', (err) => reject(new Error(`cannot start ${REDIS_SERVER} (Redis 7+ is needed; or set REDIS_SERVER_BIN): ${err.message}`)));
    });
    exited.catch(() => undefined);
    await Promise.race([exited, waitUntil(`node ${port} to answer`, async () => (await nodeCommand(port, 'PING')) === 'PONG', 10_000)]);
  }

  private log(port: number): string {
    try {
      return readFileSync(join(this.dir, String(port), 'redis.log'), 'utf8').split('\n').slice(-5).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  async create(replicas: number): Promise<void> {
    const addrs = this.nodes.map((n) => `${n.host}:${n.port}`);
    await run(REDIS_CLI, ['--cluster', 'create', ...addrs, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    await this.waitHealthy();
  }

  private running(): number[] {
    return [...this.procs.entries()].filter(([, p]) => p.exitCode === null && p.signalCode === null).map(([port]) => port);
  }

  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const live = this.running();
    await waitUntil(
      'cluster_state:ok on every node',
      async () => {
        for (const port of live) {
          const info = await nodeCommand(port, 'CLUSTER', 'INFO');
          if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
          // Every node sees every running node, none of them flagged failing, and every master has its replicas.
          const seen = await clusterNodes(port);
          const up = seen.filter((n) => live.includes(n.port));
          if (up.length !== live.length || up.some((n) => n.flags.some((f) => f.startsWith('fail') || f === 'handshake' || f === 'noaddr') || !n.connected)) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  async masterPorts(): Promise<number[]> {
    const [any] = this.running();
    const seen = await clusterNodes(any);
    return seen.filter((n) => n.flags.includes('master') && !n.flags.some((f) => f.startsWith('fail')) && n.slots > 0).map((n) => n.port).sort((a, b) => a - b);
  }

  client(options: ClusterOptions = {}): Cluster {
    return new Cluster(this.nodes, options);
  }

  private async replicaOf(port: number): Promise<number> {
    const seen = await clusterNodes(port);
    const me = seen.find((n) => n.flags.includes('myself'))!;
    const replica = seen.find((n) => n.masterId === me.id && this.running().includes(n.port) && !n.flags.some((f) => f.startsWith('fail')));
    if (!replica) throw new Error(`redis-cluster: node ${port} has no running replica to fail over to`);
    return replica.port;
  }

  async failover(port: number, opts: { kill?: boolean } = {}): Promise<void> {
    const replica = await this.replicaOf(port);
    const promoted = async () => {
      const masters = await this.masterPorts();
      return masters.includes(replica) && !masters.includes(port);
    };
    if (opts.kill) {
      await this.killNode(port, 'SIGKILL');
      await waitUntil(`${replica} to take over from the killed ${port}`, promoted, 30_000);
    } else {
      // A manual failover gives up after 5 s if the replica cannot catch up (a loaded machine): ask again.
      for (let attempt = 1; ; attempt++) {
        await nodeCommand(replica, 'CLUSTER', 'FAILOVER');
        try {
          await waitUntil(`${replica} to take over from ${port}`, promoted, 8_000);
          break;
        } catch (e) {
          if (attempt === 3) throw e;
        }
      }
    }
    await this.waitHealthy();
  }

  async restart(port: number): Promise<void> {
    if (this.running().includes(port)) {
      const wasMaster = (await this.masterPorts()).includes(port);
      const replica = wasMaster ? await this.replicaOf(port) : undefined;
      await this.killNode(port, 'SIGTERM');
      if (replica) await waitUntil(`${replica} to take over from ${port}`, async () => (await this.masterPorts()).includes(replica), 30_000);
    }
    await this.startNode(port);
    await this.waitHealthy();
  }

  private killNode(port: number, signal: NodeJS.Signals): Promise<void> {
    const proc = this.procs.get(port);
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  }

  private killAll(): void {
    for (const p of this.procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    process.removeListener('exit', this.onExit);
    await Promise.all([...this.procs.keys()].map((port) => this.killNode(port, 'SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts masters * (1 + replicasPerMaster) nodes and creates the cluster; retries on a port race. */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const { masters = 3, replicasPerMaster = 1 } = options;
  const count = masters * (1 + replicasPerMaster);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const base = options.basePort ?? (await freeBlock(count));
    const cluster = new RedisCluster(mkdtempSync(join(tmpdir(), 'agent-usage-redis-cluster-')), Array.from({ length: count }, (_, i) => base + i));
    try {
      await Promise.all(cluster.nodes.map((n) => cluster.startNode(n.port)));
      await cluster.create(replicasPerMaster);
      return cluster;
    } catch (e) {
      lastError = e; // most likely another process took a port between the check and the start
      await cluster.stop();
      if (options.basePort !== undefined) break;
    }
  }
  throw lastError;
}
