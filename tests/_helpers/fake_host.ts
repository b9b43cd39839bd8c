/** A fake fleet host for agent tests: a procRoot the test controls, a restart script, an agent config. */
import { MandrillProcess } from "./process.ts";

/** One fake fleet host: a procRoot whose boot id the test controls, a restart script, a config. */
export class FakeHost {
  constructor(readonly host: string, readonly dir: string) {}

  get marker(): string {
    return `${this.dir}/restarted.txt`;
  }

  /**
   * Creates the host's files under `{root}/{host}`. With `controllerKeyFile`
   * its agent runs only commands signed by that key's controller; without,
   * it allows unsigned ones. `mqtt` adds to its agent's mqtt section (a user, TLS).
   */
  static async create(
    root: string,
    host: string,
    brokerUrl: string,
    options: { controllerKeyFile?: string; mqtt?: Record<string, unknown> } = {},
  ): Promise<FakeHost> {
    const h = new FakeHost(host, `${root}/${host}`);
    await Deno.mkdir(`${h.dir}/proc/sys/kernel/random`, { recursive: true });
    const script = `${h.dir}/restart.sh`;
    await Deno.writeTextFile(script, `#!/bin/sh\necho "$MANDRILL_REQUEST_ID" >> '${h.marker}'\n`);
    await Deno.chmod(script, 0o755);
    await Deno.writeTextFile(
      `${h.dir}/agent.json`,
      JSON.stringify({
        mqtt: {
          url: brokerUrl,
          keepaliveSec: 5,
          reconnectMinMs: 100,
          reconnectMaxMs: 1000,
          ...options.mqtt,
        },
        host,
        heartbeatSec: 0.2,
        restart: { argv: [script], timeoutSec: 10 },
        stateFile: `${h.dir}/state.json`,
        procRoot: `${h.dir}/proc`,
        security: options.controllerKeyFile
          ? { controllerKeyFile: options.controllerKeyFile }
          : { allowUnsigned: true },
      }),
    );
    return h;
  }

  /** Sets what the next agent start reads as boot id and uptime. */
  async boot(bootId: string, uptimeSec: number): Promise<void> {
    await Deno.writeTextFile(`${this.dir}/proc/sys/kernel/random/boot_id`, `${bootId}\n`);
    await Deno.writeTextFile(`${this.dir}/proc/uptime`, `${uptimeSec.toFixed(2)} 1.00\n`);
  }

  startAgent(): MandrillProcess {
    return MandrillProcess.start(["agent", "--config", `${this.dir}/agent.json`]);
  }

  async restarts(): Promise<string[]> {
    const text = await Deno.readTextFile(this.marker).catch(() => "");
    return text.split("\n").filter((l) => l.length > 0);
  }
}
