// deno-lint-ignore-file no-console
/**
 * The bench's load generator, run as its own process so it does not share an
 * event loop with what it measures. One JSON argument picks the mode; the
 * result is one JSON line on stdout.
 *
 * - `burst`: `count` restart requests at QoS 1, as fast as the broker takes
 *   them (`window` PUBACKs outstanding). Ids `{idPrefix}{i}`, hosts `h-{i % hosts}`.
 * - `rate`: `count` restart requests at QoS 1, paced at `rate` per second;
 *   writes "id sendTimeMs" lines to `sendsFile`.
 * - `heartbeat`: agent heartbeats at QoS 0 for `hosts` hosts, round robin,
 *   `rate` per second for `durationSec`.
 *
 * Times are ms since the epoch, high resolution ({@linkcode epochMs}).
 * @module
 */
import { Buffer } from "node:buffer";
import "../../src/mqtt/_quiet_debug.ts";
import mqtt from "mqtt";
import { epochMs, readCpuSeconds } from "./proc.ts";

/** Arguments of the publisher (one JSON object on the command line). */
export type PublisherArgs =
  & { url: string; prefix: string }
  & (
    | { mode: "burst"; count: number; hosts: number; idPrefix: string; window: number }
    | {
      mode: "rate";
      count: number;
      hosts: number;
      idPrefix: string;
      rate: number;
      sendsFile: string;
    }
    | { mode: "heartbeat"; hosts: number; rate: number; durationSec: number }
  );

/** What the publisher reports. */
export interface PublisherResult {
  sent: number;
  acked: number;
  errors: number;
  firstSendAt: number;
  lastSendAt: number;
  /** When the last PUBACK came back (QoS 1), or when the connection was flushed (QoS 0). */
  lastAckAt: number;
  /** CPU seconds this process used, user + system, when it reported. */
  cpuSeconds: number;
  /** Of those, the ones used before sending: start-up, connecting, building the payloads. */
  startupCpuSeconds: number;
}

/** What a mode reports; the CPU is added when it ends. */
type _ModeResult = Omit<PublisherResult, "cpuSeconds">;

/** The payload of restart request `i`. */
export function requestPayload(idPrefix: string, i: number, hosts: number): string {
  return `{"id":"${idPrefix}${i}","host":"h-${i % hosts}","reason":"bench","requestedBy":"bench"}`;
}

async function _connect(url: string): Promise<mqtt.MqttClient> {
  return await mqtt.connectAsync(url, {
    clientId: `bench-pub-${crypto.randomUUID().slice(0, 8)}`,
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
  });
}

async function _burst(args: Extract<PublisherArgs, { mode: "burst" }>): Promise<_ModeResult> {
  const topic = `${args.prefix}/restart`;
  const payloads = Array.from(
    { length: args.count },
    (_, i) => Buffer.from(requestPayload(args.idPrefix, i, args.hosts)),
  );
  const client = await _connect(args.url);
  const r: _ModeResult = {
    sent: 0,
    acked: 0,
    errors: 0,
    firstSendAt: 0,
    lastSendAt: 0,
    lastAckAt: 0,
    startupCpuSeconds: readCpuSeconds("self"),
  };
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const onAck = (err?: Error) => {
      inFlight--;
      if (err) r.errors++;
      else r.acked++;
      if (r.acked + r.errors === args.count) {
        r.lastAckAt = epochMs();
        resolve();
      } else pump();
    };
    const pump = () => {
      while (inFlight < args.window && r.sent < args.count) {
        if (r.sent === 0) r.firstSendAt = epochMs();
        inFlight++;
        client.publish(topic, payloads[r.sent++]!, { qos: 1 }, onAck);
      }
      if (r.sent === args.count && r.lastSendAt === 0) r.lastSendAt = epochMs();
    };
    pump();
  });
  await client.endAsync(false);
  return r;
}

async function _rate(args: Extract<PublisherArgs, { mode: "rate" }>): Promise<_ModeResult> {
  const topic = `${args.prefix}/restart`;
  const client = await _connect(args.url);
  const sends = new Float64Array(args.count);
  const r: _ModeResult = {
    sent: 0,
    acked: 0,
    errors: 0,
    firstSendAt: 0,
    lastSendAt: 0,
    lastAckAt: 0,
    startupCpuSeconds: readCpuSeconds("self"),
  };
  await new Promise<void>((resolve) => {
    const start = epochMs();
    r.firstSendAt = start;
    console.log(`FIRST ${start}`);
    const onAck = (err?: Error) => {
      if (err) r.errors++;
      else r.acked++;
      if (r.acked + r.errors === args.count) {
        r.lastAckAt = epochMs();
        resolve();
      }
    };
    const tick = () => {
      const now = epochMs();
      const due = Math.min(args.count, Math.floor(((now - start) * args.rate) / 1000) + 1);
      while (r.sent < due) {
        const i = r.sent++;
        sends[i] = epochMs();
        client.publish(topic, requestPayload(args.idPrefix, i, args.hosts), { qos: 1 }, onAck);
      }
      if (r.sent < args.count) setTimeout(tick, 2);
      else r.lastSendAt = epochMs();
    };
    tick();
  });
  await client.endAsync(false);
  const lines = Array.from(sends, (t, i) => `${args.idPrefix}${i} ${t.toFixed(3)}`);
  await Deno.writeTextFile(args.sendsFile, lines.join("\n") + "\n");
  return r;
}

async function _heartbeat(
  args: Extract<PublisherArgs, { mode: "heartbeat" }>,
): Promise<_ModeResult> {
  const client = await _connect(args.url);
  const total = Math.round(args.rate * args.durationSec);
  const r: _ModeResult = {
    sent: 0,
    acked: 0,
    errors: 0,
    firstSendAt: 0,
    lastSendAt: 0,
    lastAckAt: 0,
    startupCpuSeconds: readCpuSeconds("self"),
  };
  await new Promise<void>((resolve) => {
    const start = epochMs();
    r.firstSendAt = start;
    const tick = () => {
      const now = epochMs();
      const due = Math.min(total, Math.floor(((now - start) * args.rate) / 1000) + 1);
      while (r.sent < due) {
        const i = r.sent++;
        const host = `h-${i % args.hosts}`;
        const payload = `{"host":"${host}","bootId":"boot-${host}","uptimeSec":${
          3600 + Math.floor(i / args.hosts)
        },"version":"bench","ts":${Math.round(now)}}`;
        client.publish(`${args.prefix}/agents/${host}/heartbeat`, payload, { qos: 0 });
      }
      if (r.sent < total) setTimeout(tick, 2);
      else {
        r.lastSendAt = epochMs();
        resolve();
      }
    };
    tick();
  });
  await client.endAsync(false);
  r.lastAckAt = epochMs();
  r.acked = r.sent;
  return r;
}

if (import.meta.main) {
  const args = JSON.parse(Deno.args[0] ?? "{}") as PublisherArgs;
  const result = args.mode === "burst"
    ? await _burst(args)
    : args.mode === "rate"
    ? await _rate(args)
    : await _heartbeat(args);
  console.log(JSON.stringify({ ...result, cpuSeconds: readCpuSeconds("self") }));
  Deno.exit(0);
}
