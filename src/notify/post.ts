/**
 * One POST of a notification: the thin I/O edge, mapping what happened to a
 * tagged outcome that says whether another try may help.
 * @module
 */
import { errorMessage } from "../log.ts";
import { VERSION } from "../version.ts";

/** How one POST ended. `retry`: a network error, a timeout, a 5xx or a 429; `reject`: any other answer but 2xx. */
export type PostOutcome =
  | { kind: "ok"; status: number }
  | { kind: "retry"; why: string }
  | { kind: "reject"; why: string }
  | { kind: "aborted" };

/** The HTTP client: `fetch`, or a fake in tests. */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** Options of {@linkcode postJson}. */
export interface PostOptions {
  /** Give up on an answer after this long (a `retry` outcome). Required. */
  timeoutMs: number;
  /** Stops at once: the outcome is `aborted`. Default: none. */
  signal?: AbortSignal;
  /** The HTTP client. Default: the global `fetch`. */
  fetch?: Fetch;
}

/**
 * Whether an HTTP status is a success, worth another try later (5xx, 429),
 * or an answer that will not change (every other one, redirects included).
 */
export function classifyStatus(status: number): "ok" | "retry" | "reject" {
  if (status >= 200 && status < 300) return "ok";
  if (status === 429 || status >= 500) return "retry";
  return "reject";
}

/**
 * POSTs `body` (a JSON text) to `url` and reads nothing but the status.
 * Never throws: every failure is an outcome. Its `why` may contain the URL
 * (network errors name it): scrub it before logging.
 */
export async function postJson(
  url: string,
  body: string,
  options: PostOptions,
): Promise<PostOutcome> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) return { kind: "aborted" };
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await (options.fetch ?? fetch)(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": `mandrill/${VERSION}` },
      body,
      redirect: "manual",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    await res.body?.cancel().catch(() => {});
    const kind = classifyStatus(res.status);
    if (kind === "ok") return { kind, status: res.status };
    return { kind, why: `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}` };
  } catch (err) {
    if (signal?.aborted) return { kind: "aborted" };
    if (timeout.aborted) return { kind: "retry", why: `no answer within ${timeoutMs / 1000} s` };
    const cause = err instanceof Error && err.cause !== undefined
      ? `: ${errorMessage(err.cause)}`
      : "";
    return { kind: "retry", why: `${errorMessage(err)}${cause}` };
  }
}
