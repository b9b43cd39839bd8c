/**
 * Where request events and dead letters go: `{p}/events` and `{p}/deadletter`
 * in production, a list in tests.
 * @module
 */
import type { DeadLetter, Phase, RestartEvent } from "../contract/messages.ts";

/** Publishes events and dead letters. Never throws and never blocks the caller. */
export interface EventSink {
  event(ev: RestartEvent): void;
  deadLetter(dl: DeadLetter): void;
}

/** An {@linkcode EventSink} that keeps everything in memory, for tests. */
export class RecordingEventSink implements EventSink {
  readonly events: RestartEvent[] = [];
  readonly deadLetters: DeadLetter[] = [];
  event(ev: RestartEvent): void {
    this.events.push(ev);
  }
  deadLetter(dl: DeadLetter): void {
    this.deadLetters.push(dl);
  }
  /** Events of one phase. */
  phase(phase: Phase): RestartEvent[] {
    return this.events.filter((e) => e.phase === phase);
  }
}

/** Fans one sink out to several (e.g. MQTT and metrics). */
export function teeSinks(...sinks: EventSink[]): EventSink {
  return {
    event: (ev) => sinks.forEach((s) => s.event(ev)),
    deadLetter: (dl) => sinks.forEach((s) => s.deadLetter(dl)),
  };
}
