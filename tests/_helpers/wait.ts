/** Test helpers that wait for observable conditions with deadlines, never for sleeps. */

/** Options of {@linkcode waitFor}. */
export interface WaitOptions {
  /** Give up after this many ms. Default: 10_000. */
  timeoutMs?: number;
  /** Poll interval. Default: 20 ms. */
  intervalMs?: number;
  /** Described in the error when the deadline passes (a function: what is seen then). */
  what?: string | (() => string);
}

/** Polls `cond` until it returns a truthy value and returns it, or throws at the deadline. */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (true) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${
          typeof options.what === "function" ? options.what() : options.what ?? "condition"
        }` +
          (last ? `: ${last instanceof Error ? last.message : String(last)}` : ""),
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 20));
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Waits until something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, options: WaitOptions = {}): Promise<void> {
  await waitFor(async () => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  }, { what: `port ${port}`, ...options });
}
