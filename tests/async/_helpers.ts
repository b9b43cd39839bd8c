/**
 * Test helpers for the async kit: fake time, promise probes, listener counts.
 * Not a test file itself (no `_test` suffix).
 * @module
 */

import * as FakeTimers from "@sinonjs/fake-timers";
import assert from "node:assert/strict";

// Captured before any test installs fake timers.
const nativeSetTimeout = globalThis.setTimeout;

/** The installed fake clock. */
export type FakeTime = FakeTimers.Clock;

/**
 * Runs `fn` with fake `setTimeout`/`setInterval`/`Date`, then asserts that no
 * fake timer is left pending (a leaked timer fails the test) and uninstalls.
 */
export async function withFakeTime(fn: (clock: FakeTime) => Promise<void>): Promise<void> {
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
    now: Date.UTC(2026, 0, 1),
  });
  try {
    await fn(clock);
    assert.equal(clock.countTimers(), 0, "a timer was left pending");
  } finally {
    clock.uninstall();
  }
}

/** Lets every pending microtask run: one real macrotask turn, no fake time passes. */
export async function flush(clock: FakeTime): Promise<void> {
  await clock.tickAsync(0);
}

/** A promise's state, readable synchronously. */
export interface Probe<T> {
  readonly state: "pending" | "fulfilled" | "rejected";
  readonly value: T | undefined;
  readonly error: unknown;
}

/** Watches `promise` (and thereby observes it) so tests can read its state at any time. */
export function probe<T>(promise: Promise<T>): Probe<T> {
  const p: { state: Probe<T>["state"]; value: T | undefined; error: unknown } = {
    state: "pending",
    value: undefined,
    error: undefined,
  };
  promise.then(
    (value) => {
      p.state = "fulfilled";
      p.value = value;
    },
    (error) => {
      p.state = "rejected";
      p.error = error;
    },
  );
  return p;
}

/**
 * Counts the listeners currently registered on `signal` by instrumenting its
 * add/removeEventListener. Listeners that fired with `once` are not tracked,
 * so only use it to check the paths where the signal did not abort.
 */
export function listenerCounter(signal: AbortSignal): { readonly active: number } {
  const active = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, listener: EventListener, options?: unknown) => {
    active.add(listener);
    add(type, listener, options as AddEventListenerOptions);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, listener: EventListener, options?: unknown) => {
    active.delete(listener);
    remove(type, listener, options as EventListenerOptions);
  }) as typeof signal.removeEventListener;
  return {
    get active() {
      return active.size;
    },
  };
}

/**
 * Collects `unhandledrejection` events while `fn` runs (and stops them from
 * failing the process, so the test can assert on them instead).
 */
export async function collectUnhandled(fn: () => Promise<void>): Promise<unknown[]> {
  const reasons: unknown[] = [];
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    reasons.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    await fn();
    // Deno reports unhandled rejections between macrotasks: yield one real turn.
    await new Promise<void>((resolve) => nativeSetTimeout(resolve, 0));
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
  return reasons;
}
