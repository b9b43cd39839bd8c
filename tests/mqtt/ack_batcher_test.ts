import assert from "node:assert/strict";
import type { MqttClient } from "mqtt";
import { AckBatcher } from "../../src/mqtt/ack_batcher.ts";
import { waitFor } from "../_helpers/wait.ts";

/** Just enough of an MQTT.js client: records what reaches the socket. */
function fakeClient() {
  const log: string[] = [];
  const client = {
    _sendPacket(packet: { cmd: string; messageId?: number }, cb?: () => void) {
      log.push(`${packet.cmd}${packet.messageId ?? ""}`);
      cb?.();
    },
    stream: {
      cork: () => log.push("cork"),
      uncork: () => log.push("uncork"),
      destroy: () => log.push("destroy"),
    },
  };
  const send = (packet: { cmd: string; messageId?: number }, cb?: () => void) =>
    client._sendPacket(packet, cb);
  return { client: client as unknown as MqttClient, log, send };
}

Deno.test("ackBatcher holds PUBACKs until the commit, then sends them in order in one corked write", async () => {
  const { client, log, send } = fakeClient();
  const batcher = new AckBatcher(client, () => {
    log.push("commit");
  });
  batcher.hold();
  let continued = 0;
  send({ cmd: "puback", messageId: 1 }, () => continued++);
  send({ cmd: "publish", messageId: 9 });
  send({ cmd: "puback", messageId: 2 }, () => continued++);
  assert.equal(continued, 2, "MQTT.js must be let go on to the next packet at once");
  assert.deepEqual(log, ["cork", "publish9"], "a PUBACK left before the commit");
  await batcher.flush();
  assert.deepEqual(log, ["cork", "publish9", "commit", "puback1", "puback2", "uncork"]);
});

Deno.test("ackBatcher withholds every PUBACK of a batch whose commit fails, and drops the connection", async () => {
  const { client, log, send } = fakeClient();
  const batcher = new AckBatcher(client, () => {
    throw new Error("disk full");
  });
  batcher.hold();
  send({ cmd: "puback", messageId: 1 });
  await batcher.flush();
  assert.deepEqual(log, ["cork", "uncork", "destroy"]);
});

Deno.test("ackBatcher with an asynchronous commit: PUBACKs wait for it, and a later batch's wait for the earlier one's", async () => {
  const { client, log, send } = fakeClient();
  const commits: PromiseWithResolvers<void>[] = [];
  const batcher = new AckBatcher(client, () => {
    const c = Promise.withResolvers<void>();
    commits.push(c);
    log.push(`commit${commits.length}`);
    return c.promise;
  });
  batcher.hold();
  send({ cmd: "puback", messageId: 1 });
  const first = batcher.flush();
  batcher.hold();
  send({ cmd: "puback", messageId: 2 });
  const second = batcher.flush();
  commits[1]!.resolve(); // the later commit is done first
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(!log.includes("puback2"), "a later batch's PUBACK overtook an earlier one");
  assert.ok(!log.includes("puback1"), "a PUBACK left before its commit");
  commits[0]!.resolve();
  await Promise.all([first, second]);
  const acks = log.filter((l) => l.startsWith("puback"));
  assert.deepEqual(acks, ["puback1", "puback2"]);
});

Deno.test("ackBatcher flushes by itself once the packets at hand are handled", async () => {
  const { client, log, send } = fakeClient();
  const batcher = new AckBatcher(client, () => {
    log.push("commit");
  });
  batcher.hold();
  send({ cmd: "puback", messageId: 7 });
  await waitFor(() => log.includes("puback7"), { what: "the scheduled flush" });
  assert.deepEqual(log.slice(0, 3), ["cork", "commit", "puback7"]);
  send({ cmd: "puback", messageId: 8 });
  assert.equal(log.at(-1), "puback8", "outside a batch a PUBACK goes at once");
});
