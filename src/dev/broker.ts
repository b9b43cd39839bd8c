/**
 * The embedded MQTT broker of `mandrill dev`: aedes (MQTT 3.1.1) on loopback.
 * @module
 */
import net from "node:net";
import { Aedes } from "aedes";

/** A running embedded broker. */
export interface EmbeddedBroker extends AsyncDisposable {
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
}

/** Starts aedes on 127.0.0.1:`port` (0 picks a free port). */
export async function startEmbeddedBroker(port = 0): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const server = net.createServer(aedes.handle);
  const sockets = new Set<net.Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
