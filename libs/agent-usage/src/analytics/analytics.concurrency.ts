/**
 * Store reads an answer runs at once. An answer that needs one read per key (a provider per model, a
 * series per agent) would otherwise wait for each in turn; more than the module's PostgreSQL pool (4
 * connections) would only queue in the pool, and starve the writer of connections.
 */
export const READS_AT_ONCE = 4;

/** `fn` over `items`, at most `limit` at a time; results in the order of `items`. */
export async function mapConcurrent<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, limit = READS_AT_ONCE): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
