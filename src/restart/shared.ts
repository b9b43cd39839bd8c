/**
 * Keeping one instance in step with the others on a shared store
 * (PostgreSQL): every second it reads the hosts other instances' restarts
 * hold (the budget counts them) and the fleet's failed restarts (the breaker
 * counts them); every third of the lease it takes over what an instance that
 * is gone left — its started rows end interrupted (never run again), its
 * hosts coming back are watched here, its pending requests are dispatched
 * here. At start it announces itself and says loudly when another instance
 * takes the same requests without a shared subscription group.
 * @module
 */
import { delay } from "../async/mod.ts";
import type { Clock } from "../clock.ts";
import type { Config } from "../config/mod.ts";
import type { Topics } from "../contract/topics.ts";
import { CHAOS_LAST_KEY } from "../controller_seeds.ts";
import { errorMessage, log } from "../log.ts";
import type { InboxRow, InstanceInfo, Store } from "../store/mod.ts";
import type { Breaker } from "./breaker.ts";
import type { UnavailabilityBudget } from "./budget.ts";

/** Options of {@linkcode _runSharedSync}. */
export interface SharedSyncOptions {
  store: Store;
  clock: Clock;
  budget: UnavailabilityBudget;
  breaker: Breaker;
  /** The live `policy.breaker` (null: no failures to read). */
  breakerWithinSec: () => number | undefined;
  /** Takes over an instance's started rows and outages (the start-up resume, again). */
  resume: () => Promise<unknown>;
  /** Hands over pending rows taken over. */
  take: (rows: InboxRow[]) => void;
  /** This instance, as announced to the others. */
  self: InstanceInfo;
  /** `store.leaseSec`, ms: takeovers run every third of it. */
  leaseMs: number;
  /** How often remote outages and failures are read, ms. Default: 1,000. */
  refreshMs?: number;
}

/** Rows taken over at once. */
const TAKE_BATCH = 256;

/** Warns about instances that would receive every request too; see the module doc. */
async function _announce(store: Store, self: InstanceInfo): Promise<InstanceInfo[]> {
  const peers = await store.peers(self);
  const clashing = peers.filter((p) =>
    p.topic === self.topic &&
    (self.sharedGroup === null || p.sharedGroup !== self.sharedGroup)
  );
  for (const p of clashing) {
    log("run").error(
      "Another mandrill instance ({peer}) takes requests on {topic} outside this instance's shared subscription group ({mine} here, {theirs} there): both receive every request; the shared store runs each once, but set the same mqtt.sharedGroup on every instance",
      {
        peer: p.id,
        topic: p.topic,
        mine: self.sharedGroup ?? "none",
        theirs: p.sharedGroup ?? "none",
      },
    );
  }
  if (peers.length > 0) {
    log("run").info("Sharing the store with {n} other instances: {peers}", {
      n: peers.length,
      peers: peers.map((p) => p.id).join(", "),
    });
  }
  return peers;
}

/** Runs until `signal` aborts; see the module doc. Never rejects. */
async function _runSharedSync(o: SharedSyncOptions, signal: AbortSignal): Promise<void> {
  const refreshMs = o.refreshMs ?? 1_000;
  const takeoverMs = Math.max(refreshMs, Math.floor(o.leaseMs / 3));
  let lastTakeover = -Infinity;
  let failures = 0;
  while (!signal.aborted) {
    try {
      o.budget.setRemote(await o.store.outages());
      const withinSec = o.breakerWithinSec();
      if (withinSec !== undefined) {
        o.breaker.observe(await o.store.failuresSince(o.clock.now() - withinSec * 1000));
      }
      if (o.clock.now() - lastTakeover >= takeoverMs) {
        lastTakeover = o.clock.now();
        await o.resume();
        const rows = await o.store.adoptPending(TAKE_BATCH);
        if (rows.length > 0) {
          log("dispatcher").warn(
            "Took over {n} pending requests an instance that is gone had accepted",
            { n: rows.length },
          );
          o.take(rows);
          if (rows.length === TAKE_BATCH) lastTakeover = -Infinity; // more: again next round
        }
      }
      failures = 0;
    } catch (err) {
      if (signal.aborted) return;
      // The store's problem shows in /readyz; say it here once in a while.
      if (failures++ % 30 === 0) {
        log("store").warn("Cannot read the other instances' state: {error}", {
          error: errorMessage(err),
        });
      }
    }
    await delay(refreshMs, { signal }).catch(() => {});
  }
}

/** A shared store: announce this instance, then keep in step with the others until `stop`. */
export async function shareStore(
  o: Omit<SharedSyncOptions, "self" | "leaseMs" | "refreshMs"> & { config: Config; topics: Topics },
  stop: AbortSignal,
): Promise<void> {
  if (o.store.kind !== "postgres") return;
  const self = {
    id: o.config.mqtt.clientId,
    topic: o.topics.restart,
    sharedGroup: o.config.mqtt.sharedGroup ?? null,
  };
  await _announce(o.store, self).catch((err) => {
    log("run").warn("Cannot announce this instance on the shared store: {error}", {
      error: errorMessage(err),
    });
  });
  const { config: _config, topics: _topics, ...sync } = o;
  await _runSharedSync({ ...sync, self, leaseMs: o.config.store.leaseSec * 1000 }, stop);
}

/**
 * The chaos scheduler's turn on a shared store: one lease per group (for three
 * ticks, at least `store.leaseSec`), and the time of the group's last chaos
 * restart remembered for whoever holds the turn next.
 */
export function chaosTurns(store: Store, config: () => Config): {
  turn: (group: string) => Promise<{ mine: boolean; lastChaosAt?: number }>;
  onSubmitted: (group: string, at: number) => void;
} {
  return {
    turn: async (group) => {
      const c = config();
      const ttlMs = Math.max(3 * c.chaos.tickSec * 1000, c.store.leaseSec * 1000);
      if (!await store.chaosTurn(group, ttlMs)) return { mine: false };
      const last = Number(await store.metaGet(CHAOS_LAST_KEY + group) ?? NaN);
      return { mine: true, lastChaosAt: Number.isFinite(last) ? last : undefined };
    },
    onSubmitted: (group, at) => {
      Promise.resolve(store.metaSet(CHAOS_LAST_KEY + group, String(at))).catch((err) => {
        log("chaos").warn("Cannot remember {group}'s last chaos restart: {error}", {
          group,
          error: errorMessage(err),
        });
      });
    },
  };
}
