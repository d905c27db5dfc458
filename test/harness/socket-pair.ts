// Two sockets that live and die together: what every TCP proxy of the harness does per connection.
import type { Socket } from "node:net";

/** Tracks both in `live` until either ends or fails, then destroys both. The caller pipes them as it needs. */
export function tieSockets(client: Socket, upstream: Socket, live: Set<Socket>): void {
  live.add(client).add(upstream);
  const close = () => {
    client.destroy();
    upstream.destroy();
    live.delete(client);
    live.delete(upstream);
  };
  client.on("error", close).on("close", close);
  upstream.on("error", close).on("close", close);
}
