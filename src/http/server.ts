/**
 * The operator's HTTP endpoint: the status page at `/` (with its JSON twin
 * `/api/status` and its live feed `/api/events`), `/metrics` for Prometheus,
 * `/healthz` and `/readyz` for probes (systemd, Kubernetes, load balancers),
 * and `/debug/tasks` listing the work in flight. GET only, read-only; nothing
 * it logs or serves carries secrets (no headers, no query strings, no config).
 * @module
 */
import { errorMessage, log } from "../log.ts";
import type { StatusFeed } from "../status/feed.ts";

/** One file of the status page, served by mandrill itself (no CDN, no build step). */
export interface PageAsset {
  contentType: string;
  body: string;
}

/**
 * The status page's Content-Security-Policy: its own scripts, styles and
 * feed only; nothing inline, no frames, no forms.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Anything that renders Prometheus text, such as {@linkcode Metrics}. */
export interface MetricsRenderer {
  /** The exposition text. */
  render(): Promise<string>;
  /** Its content type, e.g. `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
}

/** The answer of a readiness check: ready, or not with the reasons why. */
export interface Readiness {
  /** True when the controller can take work. */
  ok: boolean;
  /** Why it cannot, one short line each (empty when ready). */
  reasons: string[];
}

/** Options of {@linkcode createHttpHandler}. */
export interface HttpHandlerOptions {
  /** Rendered by `GET /metrics`. */
  metrics: MetricsRenderer;
  /** Asked on each `GET /readyz`. Default: always ready. */
  ready?: () => Readiness;
  /** Serialised as JSON by `GET /debug/tasks`, e.g. `() => dispatcher.inFlight()`. Default: `[]`. */
  tasks?: () => unknown;
  /** The status as JSON text, for `GET /api/status`. Default: none (404). */
  status?: () => string;
  /** The live feed of `GET /api/events` (Server-Sent Events). Default: none (404). */
  feed?: StatusFeed;
  /** The status page's files by path (`/` for the page itself). Default: none. */
  page?: Readonly<Record<string, PageAsset>>;
}

/** Options of {@linkcode startHttpServer}. */
export interface HttpServerOptions extends HttpHandlerOptions {
  /** Stops the server (gracefully) when aborted. Default: runs until shut down. */
  signal?: AbortSignal;
}

/** The address the server actually listens on (the real port when 0 was asked). */
export interface HttpAddr {
  /** Host name or IP address (IPv6 without brackets). */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** A running HTTP server; dispose it (or call `shutdown()`) to stop it. */
export interface RunningHttpServer extends AsyncDisposable {
  /** Where it listens, with the real port when 0 was asked. */
  readonly addr: HttpAddr;
  /** Resolves once the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting connections, lets requests in progress finish. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Parses a `host:port` listen address: `127.0.0.1:9464`, `[::1]:9464`,
 * `:9464` (all interfaces). Port 0 asks for any free port.
 * @throws {TypeError} when it is not `host:port` or the port is not 0–65535.
 */
export function parseListen(listen: string): HttpAddr {
  const i = listen.lastIndexOf(":");
  const portText = listen.slice(i + 1);
  if (i < 0 || !/^\d{1,5}$/.test(portText)) {
    throw new TypeError(`Cannot listen on "${listen}": expected host:port, e.g. 127.0.0.1:9464`);
  }
  const port = Number(portText);
  if (port > 65535) {
    throw new TypeError(`Cannot listen on "${listen}": port ${port} is above 65535`);
  }
  let hostname = listen.slice(0, i);
  if (hostname.startsWith("[") && hostname.endsWith("]")) hostname = hostname.slice(1, -1);
  else if (hostname.includes(":")) {
    throw new TypeError(`Cannot listen on "${listen}": write IPv6 addresses as [addr]:port`);
  }
  return { hostname: hostname === "" ? "0.0.0.0" : hostname, port };
}

const _NO_STORE = { "cache-control": "no-store" };

function _text(body: string, status = 200, headers: HeadersInit = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ..._NO_STORE, ...headers },
  });
}

function _json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ..._NO_STORE },
  });
}

/**
 * The request handler on its own, for tests and for mounting elsewhere:
 * `GET /metrics`, `/healthz`, `/readyz`, `/debug/tasks`; any other path is
 * 404, any other method 405.
 */
export function createHttpHandler(
  options: HttpHandlerOptions,
): (req: Request) => Promise<Response> {
  const ready = options.ready ?? (() => ({ ok: true, reasons: [] }));
  const tasks = options.tasks ?? (() => []);
  const routes: Record<string, (req: Request) => Response | Promise<Response>> = {
    "/metrics": async () => {
      try {
        const body = await options.metrics.render();
        return new Response(body, {
          headers: { "content-type": options.metrics.contentType, ..._NO_STORE },
        });
      } catch (err) {
        log("http").error("Cannot render metrics: {error}", { error: errorMessage(err) });
        return _text("cannot render metrics\n", 500);
      }
    },
    "/healthz": () => _text("ok\n"),
    "/readyz": () => {
      let r: Readiness;
      try {
        r = ready();
      } catch (err) {
        r = { ok: false, reasons: [`readiness check failed: ${errorMessage(err)}`] };
      }
      return _json({ ready: r.ok, reasons: r.reasons }, r.ok ? 200 : 503);
    },
    "/debug/tasks": () => {
      try {
        return _json(tasks());
      } catch (err) {
        log("http").error("Cannot list tasks: {error}", { error: errorMessage(err) });
        return _text("cannot list tasks\n", 500);
      }
    },
  };
  const status = options.status;
  if (status) {
    routes["/api/status"] = () => {
      try {
        return new Response(status(), {
          headers: { "content-type": "application/json; charset=utf-8", ..._NO_STORE },
        });
      } catch (err) {
        log("http").error("Cannot build the status: {error}", { error: errorMessage(err) });
        return _text("cannot build the status\n", 500);
      }
    };
  }
  for (const [path, asset] of Object.entries(options.page ?? {})) {
    routes[path] = () =>
      new Response(asset.body, {
        headers: {
          "content-type": asset.contentType,
          "content-security-policy": PAGE_CSP,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
          ..._NO_STORE,
        },
      });
  }
  const feed = options.feed;
  if (feed) routes["/api/events"] = () => _events(feed);
  return async (req) => {
    const path = new URL(req.url).pathname;
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    // Only the method and path are logged: query strings and headers may carry secrets.
    log("http").debug("{method} {path}", { method: req.method, path });
    if (!route) return _text("not found\n", 404);
    if (req.method !== "GET") return _text("method not allowed\n", 405, { allow: "GET" });
    return await route(req);
  };
}

/** A client going away cancels its body: that is what frees its place (not `req.signal`). */
function _events(feed: StatusFeed): Response {
  const body = feed.stream();
  if (body === undefined) return _text("too many status page clients\n", 503);
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}

/**
 * Starts the HTTP server on `listen` (`host:port`, port 0 for any free port).
 * Binding happens before it returns, so a busy port throws here
 * (`Deno.errors.AddrInUse`).
 * @example
 * ```ts
 * await using http = startHttpServer("127.0.0.1:9464", { metrics, ready, tasks });
 * console.log(http.addr.port);
 * ```
 */
export function startHttpServer(listen: string, options: HttpServerOptions): RunningHttpServer {
  const { hostname, port } = parseListen(listen);
  options.signal?.throwIfAborted();
  const handler = createHttpHandler(options);
  const server = Deno.serve({
    hostname,
    port,
    signal: options.signal,
    onListen: (addr) => {
      const message = options.page?.["/"]
        ? "Status page on http://{hostname}:{port}/ (and /api/status, /metrics)"
        : "HTTP endpoint on http://{hostname}:{port}/metrics";
      log("http").info(message, {
        hostname: addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname,
        port: addr.port,
      });
    },
    onError: (err) => {
      log("http").error("HTTP handler failed: {error}", { error: errorMessage(err) });
      return _text("internal error\n", 500);
    },
  }, handler);
  const addr = server.addr as Deno.NetAddr;
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= options.signal?.aborted
      ? server.finished
      : server.shutdown().then(() => server.finished);
    return stopping;
  };
  return {
    addr: { hostname: addr.hostname, port: addr.port },
    finished: server.finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
