/** What one iteration of an observed stream reports: each value, then how it ended (once). */
export interface IterationObserver {
  value(v: unknown): void;
  /** `error` is set when the stream threw or the caller threw into it. */
  end(error?: unknown): void;
}

/**
 * A proxy of `source` whose iterations are observed without changing what the caller sees: only
 * `Symbol.asyncIterator` is intercepted; every other member (e.g. `controller`, `toReadableStream`,
 * `completed`) reaches the original, bound to it. `open` is called once per iteration started.
 */
export function observeIteration<T extends AsyncIterable<unknown> & object>(source: T, open: () => IterationObserver): T {
  return new Proxy(source, {
    get(target, prop) {
      if (prop === Symbol.asyncIterator) {
        return () => {
          const it = target[Symbol.asyncIterator]() as AsyncIterator<unknown>;
          const observer = open();
          let ended = false;
          const end = (error?: unknown) => {
            if (ended) return;
            ended = true;
            observer.end(error);
          };
          const iterator: AsyncIterableIterator<unknown> = {
            async next(...a: [] | [unknown]) {
              try {
                const r = await it.next(...a);
                if (r.done) end();
                else observer.value(r.value);
                return r;
              } catch (err) {
                end(err ?? new Error('stream failed'));
                throw err;
              }
            },
            async return(v?: unknown) {
              end();
              return it.return ? it.return(v) : { done: true, value: v };
            },
            async throw(e?: unknown) {
              end(e ?? new Error('stream aborted'));
              if (it.throw) return it.throw(e);
              throw e;
            },
            [Symbol.asyncIterator]() {
              return iterator;
            },
          };
          return iterator;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
