/**
 * What every scenario gets: the broker, the sizes (full or `--quick`), how
 * many runs, unique topic prefixes, child scripts and progress output.
 * @module
 */
import type { Mosquitto } from "../../tests/_helpers/mosquitto.ts";
import { assertNoDrops } from "./broker.ts";
import { ROOT } from "./proc.ts";

/** Sizes of every scenario. */
export interface Sizes {
  /** Requests in the ceiling and pipeline scenarios. */
  n: number;
  /** Hosts configured in mandrill. */
  hosts: number;
  /** QoS 1 publishes outstanding in a burst. */
  window: number;
  /** Requests in the executor scenario. */
  execN: number;
  /** maxUnavailable in the executor and latency scenarios. */
  maxUnavailable: number;
  /** Requests per second and seconds of the latency scenario. */
  latencyRate: number;
  latencySec: number;
  /** The same at a rate the executor keeps up with, for latency without a queue. */
  sustainedRate: number;
  sustainedSec: number;
  /** Simulated agents, heartbeats per second and seconds of the fleet scenario. */
  fleetHosts: number;
  fleetRate: number;
  fleetSec: number;
  /** Requests waiting and in flight when SIGTERM comes, in the shutdown scenario. */
  shutdownPending: number;
  shutdownInFlight: number;
  /** Hosts (loopback addresses of one sshd) and restarts at once of the ssh scenarios. */
  sshHosts: number;
  sshConcurrency: number;
  /** ssh-recovery: seconds from a restart to the new boot id, and `recovery.maxProbes`. */
  sshBootDelaySec: number;
  sshMaxProbes: number;
  /** pg-pipeline: dry-run requests on a shared PostgreSQL store. */
  pgN: number;
  /** rolling: simulated agents in all, the group restarted (10% at a time), their processes. */
  rollingHosts: number;
  rollingGroup: number;
  rollingProcs: number;
}

/** The full bench (issue #7). */
export const FULL: Sizes = {
  n: 50_000,
  hosts: 5_000,
  window: 2_000,
  execN: 5_000,
  maxUnavailable: 64,
  latencyRate: 1_000,
  latencySec: 30,
  sustainedRate: 500,
  sustainedSec: 20,
  fleetHosts: 100_000,
  fleetRate: 5_000,
  // 100,000 hosts at 5,000/s: every host has sent a heartbeat after 20 s.
  fleetSec: 24,
  shutdownPending: 1_000,
  shutdownInFlight: 50,
  sshHosts: 200,
  sshConcurrency: 20,
  sshBootDelaySec: 2,
  sshMaxProbes: 16,
  pgN: 20_000,
  rollingHosts: 10_000,
  rollingGroup: 1_000,
  rollingProcs: 4,
};

/** `--quick`: a smoke run of every scenario. */
export const QUICK: Sizes = {
  ...FULL,
  n: 5_000,
  execN: 1_000,
  latencySec: 5,
  sustainedSec: 5,
  fleetSec: 5,
  pgN: 5_000,
  rollingHosts: 1_000,
  rollingGroup: 100,
  rollingProcs: 2,
};

/** Options of {@linkcode BenchContext}. */
export interface BenchContextOptions {
  /**
   * Extra `Key=Value` ssh options for every ssh tool of the ssh scenarios
   * (mandrill's executor, xargs, Ansible, pssh), e.g.
   * `KexAlgorithms=curve25519-sha256`. Default: none, OpenSSH's defaults.
   */
  sshOptions?: string[];
}

/** Shared by the scenarios of one bench. */
export class BenchContext {
  readonly broker: Mosquitto;
  readonly sizes: Sizes;
  readonly runs: number;
  readonly sshOptions: readonly string[];
  #seq = 0;

  /** A context over a started broker. */
  constructor(broker: Mosquitto, sizes: Sizes, runs: number, options: BenchContextOptions = {}) {
    this.broker = broker;
    this.sizes = sizes;
    this.runs = runs;
    this.sshOptions = [...(options.sshOptions ?? [])];
  }

  /** A topic prefix no other run uses, e.g. `bench-pipeline-3`. */
  prefix(scenario: string): string {
    return `bench-${scenario}-${++this.#seq}`;
  }

  /** Progress line on stderr. */
  progress(message: string): void {
    Deno.stderr.writeSync(new TextEncoder().encode(`[bench] ${message}\n`));
  }

  /** Fails loudly if the broker dropped anything so far. */
  async checkBroker(where: string): Promise<void> {
    await assertNoDrops(this.broker, where);
  }
}

/** The child scripts. */
export const SCRIPTS = {
  publisher: `${ROOT}scripts/_bench/publisher.ts`,
  subscriber: `${ROOT}scripts/_bench/subscriber.ts`,
  spawnCeiling: `${ROOT}scripts/_bench/spawn_ceiling.ts`,
} as const;
