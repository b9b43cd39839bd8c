/**
 * Chaos: scheduled random restarts per group, inside time windows, behind a
 * leash and a kill switch.
 *
 * @example
 * ```ts
 * const killSwitch = new KillSwitch();
 * routeKillSwitch(conn, topics, killSwitch);
 * const chaos = new ChaosScheduler({
 *   config: () => controller.config.chaos,
 *   hostsOfGroup: (group) => hostsIn(group),
 *   isOnline: (host) => fleet.isOnline(host),
 *   lastRestartAt: (host) => ledger.lastRestartAt(host),
 *   submit: (request) => inbox.submit(request),
 *   paused: () => killSwitch.paused(),
 *   clock,
 * });
 * const running = chaos.run(stop.signal);
 * ```
 * @module
 */
export {
  type ChaosConfig,
  type ChaosDecision,
  type ChaosGroupConfig,
  ChaosScheduler,
  type ChaosSchedulerOptions,
} from "./scheduler.ts";
export {
  type ChaosPick,
  type ChaosRequest,
  chaosRequestId,
  type PickOptions,
  type PickResult,
  type PickSettings,
  pickVictim,
} from "./pick.ts";
export {
  type ControlMessage,
  controlMessageSchema,
  type ControlPublisher,
  KillSwitch,
  type KillSwitchOptions,
  type PauseState,
  publishControl,
  type PublishControlOptions,
  routeKillSwitch,
  syncMarkerPayload,
} from "./control.ts";
export {
  type ChaosWindow,
  describeDays,
  describeWindows,
  isWithinWindows,
  type LocalTime,
  localTime,
  type WeekDay,
  type WindowCheck,
  type WindowCheckOptions,
  windowContains,
  type WindowSchedule,
} from "./window.ts";
export { globToRegExp, hostMatcher } from "./glob.ts";
