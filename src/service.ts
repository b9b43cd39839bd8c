/**
 * The composition root of `mandrill run`: the controller plus everything a
 * service needs around it — signals (SIGINT/SIGTERM drain, a second exits at
 * once, SIGHUP reloads, SIGUSR1 dumps in-flight work) and a global error net
 * that turns any bug into a loud, graceful, non-zero exit.
 * @module
 */
import { ConfigError, describeUnreadable, loadConfig, unreadableFiles } from "./config/mod.ts";
import type { Config } from "./config/mod.ts";
import { Controller } from "./controller.ts";
import { errorMessage, log } from "./log.ts";
import { LagMonitor } from "./debug/mod.ts";
import { Metrics, startHttpServer } from "./http/mod.ts";
import { STATUS_PAGE, StatusFeed } from "./status/mod.ts";
import { EXIT, StartupError } from "./errors.ts";

/** Options of {@linkcode runService}. */
export interface ServiceOptions {
  /** The config file, re-read on SIGHUP. */
  configPath: string;
  /**
   * Test-only fault injection, shortly after start: `"throw"` throws from a
   * timer callback, `"reject"` leaves a rejected promise unhandled, `"block"`
   * blocks the event loop for 300 ms.
   * Default: none (from `MANDRILL_TEST_FAULT`).
   */
  fault?: string;
  /** Debug mode: log event-loop stalls above `debug.slowMs`. Default: `config.debug.enabled`. */
  debug?: boolean;
}

/** Exit status after a second signal: the process did not drain. */
export const EXIT_FORCED = EXIT.forced;
/** Exit status after an unexpected error. */
export const EXIT_BUG = EXIT.bug;

/** Runs the controller until a signal or a bug stops it; resolves to the exit status. */
export async function runService(config: Config, options: ServiceOptions): Promise<number> {
  const logger = log("run");
  // Every file the config names, before anything listens or connects.
  const unreadable = await unreadableFiles(config);
  if (unreadable.length > 0) {
    throw new StartupError(describeUnreadable(unreadable), { exitCode: EXIT.configFile });
  }
  const debug = options.debug ?? config.debug.enabled;
  using lag = new LagMonitor({ slowMs: debug ? config.debug.slowMs : Infinity }).start();
  if (debug) {
    logger.info("Debug mode: reporting event-loop stalls over {ms} ms", {
      ms: config.debug.slowMs,
    });
  }
  const metrics = new Metrics();
  let exitCode = 0;
  let signals = 0;
  const current: { controller?: Controller } = {};
  const fatal = (kind: string, err: unknown) => {
    exitCode = EXIT_BUG;
    metrics.onUnhandled(err);
    logger.fatal("Unexpected {kind}: {error}; shutting down", {
      kind,
      error: errorMessage(err),
      stack: err instanceof Error ? err.stack : undefined,
    });
    current.controller?.shutdown().catch(() => {});
  };
  // The HTTP port first: a port in use is a startup failure, found before the
  // store is taken or the broker reached. Until the controller exists, not ready.
  const live: { controller?: Controller; status?: () => string } = {};
  const feed = new StatusFeed({ snapshot: () => live.status?.() ?? "{}" });
  await using _http = config.http.listen === null ? undefined : _listen(config.http.listen, {
    metrics,
    ready: () => live.controller?.readiness() ?? { ok: false, reasons: ["starting"] },
    tasks: () => live.controller?.tasks() ?? { requests: [], restarts: [] },
    status: () => live.status?.() ?? "{}",
    feed,
    page: STATUS_PAGE,
  });
  // Declared after the server, so disposed before it: the server's graceful
  // shutdown waits for open responses, and a live feed never ends by itself.
  using _feed = feed;
  const controller = await Controller.start(config, { metrics, onFatal: fatal });
  current.controller = controller;
  live.controller = controller;
  live.status = () => JSON.stringify(controller.status());
  metrics.bindSources({
    inboxPending: () => controller.pendingCount(),
    mqttConnected: () => controller.conn.connected,
    eventLoopLagSeconds: () => lag.lagSeconds,
    inflight: () => controller.dispatcher.inFlight().length,
    fleetHosts: () => controller.fleet.size,
    fleetOnline: () => {
      const fleet = controller.fleet;
      let n = 0;
      for (const h of fleet.hosts()) if (fleet.get(h)?.online) n++;
      return n;
    },
    waiting: () => controller.dispatcher.waitingCounts(),
    unavailable: () => controller.budget.unavailable(),
    storeWritable: () => controller.store.isOpen && controller.store.problem === undefined,
  });
  using _feeding = controller.onStatusChange(() => feed.changed());
  const onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    fatal("unhandled rejection", e.reason);
  };
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    fatal("uncaught error", e.error ?? e.message);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);

  let firstSignalAt = 0;
  const stop = (sig: Deno.Signal) => () => {
    const now = performance.now();
    if (++signals > 1) {
      // One Ctrl-C can arrive twice (terminal to the process group, and forwarded
      // by a task runner such as `deno task`): a repeat within a second is the same one.
      if (now - firstSignalAt < 1000) return;
      logger.error("Second {sig}: exiting at once", { sig });
      Deno.exit(EXIT_FORCED);
    }
    firstSignalAt = now;
    logger.info("Received {sig}: shutting down gracefully", { sig });
    controller.shutdown().catch((err) => {
      exitCode ||= 1;
      logger.error("Shutdown finished with errors: {error}", { error: errorMessage(err) });
    });
  };
  const reload = () => {
    loadConfig(options.configPath).then((next) => {
      const { restartNeeded } = controller.reload(next);
      metrics.onReload(true);
      logger.info("Reloaded {file}: hosts {hosts}, policy and executors applied", {
        file: options.configPath,
        hosts: Object.keys(next.hosts).length,
      });
      if (restartNeeded.length > 0) {
        logger.warn("Changes to {sections} need a restart and were not applied", {
          sections: restartNeeded.join(", "),
        });
      }
    }, (err) => {
      metrics.onReload(false);
      const issues = err instanceof ConfigError ? err.message : errorMessage(err);
      logger.error("Reload rejected, keeping the running config:\n{issues}", { issues });
    });
  };
  const dumpTasks = () => {
    const now = Date.now();
    const tasks = controller.dispatcher.inFlight();
    logger.info("{n} requests in flight", { n: tasks.length });
    for (const t of tasks) {
      logger.info("in flight: {id} {host} {phase} for {ageMs} ms", { ...t, ageMs: now - t.since });
    }
  };
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGINT", stop("SIGINT")],
    ["SIGTERM", stop("SIGTERM")],
    ["SIGHUP", reload],
    ["SIGUSR1", dumpTasks],
  ];
  for (const [sig, h] of handlers) Deno.addSignalListener(sig, h);

  const fault = options.fault ?? Deno.env.get("MANDRILL_TEST_FAULT");
  if (fault) _injectFault(fault);

  try {
    await controller.done.catch((err) => fatal("dispatcher failure", err));
    await controller.shutdown().catch((err) => {
      exitCode ||= 1;
      logger.error("Shutdown finished with errors: {error}", { error: errorMessage(err) });
    });
    return exitCode;
  } finally {
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
  }
}

/** Binds the HTTP endpoint; a port in use is a {@linkcode StartupError} naming it. */
function _listen(listen: string, options: Parameters<typeof startHttpServer>[1]) {
  try {
    return startHttpServer(listen, options);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new StartupError(`http.listen ${listen}: the port is in use by another process`, {
        exitCode: EXIT.configFile,
        cause: err,
      });
    }
    if (
      err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.AddrNotAvailable
    ) {
      throw new StartupError(`http.listen ${listen}: ${errorMessage(err)}`, {
        exitCode: EXIT.configFile,
        cause: err,
      });
    }
    throw err;
  }
}

/** Test-only: a bug in an unexpected place, to prove the error net holds. */
function _injectFault(kind: string): void {
  log("run").warn("Test fault {kind} armed (MANDRILL_TEST_FAULT)", { kind });
  setTimeout(() => {
    if (kind === "block") {
      const end = performance.now() + 300;
      while (performance.now() < end) { /* a deliberate 300 ms blocking call */ }
      return;
    }
    if (kind === "reject") {
      Promise.reject(new Error("test fault: unhandled rejection from a forgotten promise"));
    } else {
      throw new Error("test fault: thrown from a timer callback");
    }
  }, 200);
}
