/** A webhook receiver on 127.0.0.1 (an ephemeral port) that records every POST and answers as told. */

/** One request the receiver got. */
export interface ReceivedPost {
  method: string;
  path: string;
  contentType: string | null;
  /** The body, parsed as JSON. */
  body: unknown;
}

/** How to answer request number `n` (0-based): a status, or "hang" (never, until disposal). */
export type Answer = (n: number) => number | "hang";

/** A running receiver; disposal releases hanging requests and stops the server. */
export class WebhookReceiver implements AsyncDisposable {
  readonly posts: ReceivedPost[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #release = new AbortController();

  private constructor(answer: Answer) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const text = await req.text().catch(() => ""); // the sender may give up mid-body
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch { /* kept as text */ }
        const n = this.posts.push({
          method: req.method,
          path: new URL(req.url).pathname,
          contentType: req.headers.get("content-type"),
          body,
        }) - 1;
        const status = answer(n);
        if (status !== "hang") return new Response(null, { status });
        const released = this.#release.signal;
        if (!released.aborted) {
          await new Promise((resolve) => released.addEventListener("abort", resolve));
        }
        return new Response(null, { status: 503 });
      },
    );
  }

  /** Starts a receiver answering each request as `answer` says (default: 200). */
  static start(answer: Answer = () => 200): WebhookReceiver {
    return new WebhookReceiver(answer);
  }

  /** The URL of `path` on this receiver. */
  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.#server.addr.port}${path}`;
  }

  /** Bodies of the requests to `path`, in arrival order. */
  bodies(path = "/hook"): unknown[] {
    return this.posts.filter((p) => p.path === path).map((p) => p.body);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#release.abort();
    await this.#server.shutdown();
  }
}
