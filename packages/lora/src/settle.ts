/**
 * Runs `fn`, then `end` once `fn` is over: right away when it returns or throws, or when the promise
 * it returns settles (an async `fn` such as `generate` runs its forwards after returning its promise,
 * so a plain `finally` would undo the setting before them). The result or error of `fn` is passed on.
 */
export function runThenEnd<T>(fn: () => T, end: () => void): T {
  let result: T;
  try {
    result = fn();
  } catch (e) {
    end();
    throw e;
  }
  const then = (result as { then?: unknown } | null)?.then;
  if (typeof then !== 'function') {
    end();
    return result;
  }
  return (result as unknown as PromiseLike<unknown>).then(
    (v) => {
      end();
      return v;
    },
    (e: unknown) => {
      end();
      throw e;
    },
  ) as T;
}
