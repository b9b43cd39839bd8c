/**
 * Bounded capture of a child's output: only the last few KiB are kept, so a
 * command that prints 100 MB costs no more memory than one that prints a line.
 * @module
 */

/** Default number of bytes kept from the end of each stream. */
export const DEFAULT_TAIL_BYTES = 2048;

const ELLIPSIS = "…";

/** Keeps the last `capacity` bytes pushed into it. */
export class TailBuffer {
  readonly #buf: Uint8Array;
  #len = 0;
  #total = 0;

  /** Keeps at most `capacity` bytes (default 2 KiB). */
  constructor(capacity: number = DEFAULT_TAIL_BYTES) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(`TailBuffer capacity must be a positive integer, got ${capacity}`);
    }
    this.#buf = new Uint8Array(capacity);
  }

  /** Total bytes ever pushed, kept or not. */
  get totalBytes(): number {
    return this.#total;
  }

  /** True when earlier bytes were dropped. */
  get truncated(): boolean {
    return this.#total > this.#len;
  }

  /** Appends `chunk`, dropping the oldest bytes beyond capacity. */
  push(chunk: Uint8Array): void {
    const cap = this.#buf.length;
    this.#total += chunk.length;
    if (chunk.length >= cap) {
      this.#buf.set(chunk.subarray(chunk.length - cap));
      this.#len = cap;
      return;
    }
    const keep = Math.min(this.#len, cap - chunk.length);
    this.#buf.copyWithin(0, this.#len - keep, this.#len);
    this.#buf.set(chunk, keep);
    this.#len = keep + chunk.length;
  }

  /**
   * The kept bytes as UTF-8 text, trimmed, prefixed with "…" when earlier output
   * was dropped. A multi-byte character cut at the start is skipped.
   */
  text(): string {
    let start = 0;
    if (this.truncated) {
      // Skip UTF-8 continuation bytes (0b10xxxxxx) left over from a cut character.
      while (start < this.#len && (this.#buf[start]! & 0xc0) === 0x80) start++;
    }
    const text = new TextDecoder().decode(this.#buf.subarray(start, this.#len)).trim();
    return this.truncated ? ELLIPSIS + text : text;
  }
}

/** A stream being read into a {@linkcode TailBuffer}. */
export interface Drain {
  /** Settles when the stream ends, errors or is cancelled; never rejects. */
  readonly done: Promise<void>;
  /** Stops reading and cancels the stream; resolves once reading has stopped. */
  cancel(): Promise<void>;
}

/** Reads `stream` to its end into `tail`, in the background. */
export function drainInto(stream: ReadableStream<Uint8Array>, tail: TailBuffer): Drain {
  const reader = stream.getReader();
  const done = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        tail.push(value);
      }
    } catch {
      // A cancelled or broken pipe ends the capture; what was read is kept.
    } finally {
      reader.releaseLock();
    }
  })();
  return {
    done,
    async cancel() {
      await reader.cancel().catch(() => {});
      await done;
    },
  };
}
