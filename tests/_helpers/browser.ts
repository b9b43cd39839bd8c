/**
 * Headless Chromium for tests of the status page: Debian's `chromium`,
 * driven by puppeteer-core (which never downloads a browser), with a fresh
 * profile and none of Chromium's calls home.
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** The little of an element that tests read in the page (Deno's types have no DOM). */
export interface DomElement {
  readonly tagName: string;
  readonly textContent: string | null;
  readonly hidden?: boolean;
  getAttribute(name: string): string | null;
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): ArrayLike<DomElement>;
}

/** The little of `document` that tests use in the page. */
export interface DomDocument extends DomElement {
  readonly body: DomElement;
  readonly scripts: ArrayLike<DomElement>;
  addEventListener(
    type: "securitypolicyviolation",
    listener: (e: { violatedDirective: string; blockedURI: string }) => void,
  ): void;
}

/**
 * `document`, inside a function that puppeteer runs in the page (serialised
 * with its source: it may use nothing from outside but its arguments).
 */
export type InPage = { document: DomDocument };

/** Where Chromium is looked for, in order (`CHROMIUM` in the environment first). */
export const CHROMIUM_PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/**
 * The Chromium executable: the first of `candidates` that exists.
 * @throws {Error} naming the package to install when there is none.
 */
export function findChromium(
  candidates: readonly string[] = [Deno.env.get("CHROMIUM") ?? "", ...CHROMIUM_PATHS],
): string {
  candidates = candidates.filter((p) => p !== "");
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* next */ }
  }
  throw new Error(
    `Chromium is not installed (looked for ${candidates.join(", ")}): the status page tests ` +
      "drive a real browser. Install Debian's package: apt-get install -y chromium",
  );
}

/** A running headless Chromium; dispose to close it and remove its profile. */
export class Chromium implements AsyncDisposable {
  readonly browser: Browser;
  readonly #profile: string;

  private constructor(browser: Browser, profile: string) {
    this.browser = browser;
    this.#profile = profile;
  }

  /** Starts Chromium (throws with the package to install when it is missing). */
  static async launch(): Promise<Chromium> {
    const executablePath = findChromium();
    const profile = await Deno.makeTempDir({ prefix: "mandrill-chromium-" });
    const browser = await puppeteer.launch({
      executablePath,
      headless: true,
      userDataDir: profile,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    return new Chromium(browser, profile);
  }

  /**
   * A new page with a viewport of `width`×`height` that records what must
   * never happen: script errors and Content-Security-Policy violations.
   */
  async page(width = 1400, height = 900): Promise<{ page: Page; problems: string[] }> {
    const page = await this.browser.newPage();
    await page.setViewport({ width, height });
    const problems: string[] = [];
    page.on("pageerror", (err) => problems.push(`page error: ${err}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
    });
    await page.evaluateOnNewDocument(() => {
      const doc = (globalThis as unknown as InPage).document;
      doc.addEventListener("securitypolicyviolation", (e) => {
        // deno-lint-ignore no-console -- runs in the page: puppeteer hears it
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    return { page, problems };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.browser.close();
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}
