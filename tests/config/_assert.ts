/**
 * Assertions for config tests.
 * @module
 */
import assert from "node:assert/strict";
import { ConfigError, type ConfigIssue } from "../../src/config/mod.ts";

/** The ConfigError `fn` throws (fails when it returns or throws anything else). */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a ConfigError, but nothing was thrown");
}

/** The ConfigError a promise rejects with. */
export async function configErrorOfAsync(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a ConfigError, but the promise resolved");
}

/** Asserts that `fn` throws a ConfigError with exactly `expected` issues, in any order. */
export function assertIssues(fn: () => unknown, expected: ConfigIssue[]): void {
  const byPath = (a: ConfigIssue, b: ConfigIssue) =>
    a.path.localeCompare(b.path) || a.message.localeCompare(b.message);
  assert.deepEqual([...configErrorOf(fn).issues].sort(byPath), [...expected].sort(byPath));
}
