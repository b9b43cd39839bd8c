/**
 * Publishes asked for while not connected, sent once the connection is up
 * again. Not handed to MQTT.js meanwhile: after a reconnect it clears its
 * packet ids and resends what it stored, and a publish made before that is
 * done can take the id of a stored one and replace it (an event lost).
 * @module
 */

/** The held publishes of one connection, in the order asked; see the module doc. */
export class HeldPublishes {
  #held: { later: boolean; send: () => void }[] = [];

  /** Resolves when released: an awaited publish goes on then. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => this.#held.push({ later: false, send: resolve }));
  }

  /** Holds a publish nobody waits for: `send` runs when released. */
  later(send: () => void): void {
    this.#held.push({ later: true, send });
  }

  /** Sends what is held, in order; with `later: false` only the awaited ones (the rest is dropped). */
  release(options: { later?: boolean } = {}): void {
    const later = options.later ?? true;
    const held = this.#held;
    this.#held = [];
    for (const h of held) if (later || !h.later) h.send();
  }
}
