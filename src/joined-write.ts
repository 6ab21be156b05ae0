import type { Socket } from 'node:net';

/** A chunk up to this size goes out copied into one buffer with the text around it; a larger one in one writev of its parts. */
const COPY_BELOW_BYTES = 16 * 1024;

/**
 * Writes `before` (latin1 text: a head, chunk framing), `chunk` and `after`
 * (latin1, may be empty) in one socket write, so that the peer is woken once:
 * small chunks are copied into one buffer (one `write` call, no cork), larger
 * ones corked into one `writev`. Returns `socket.write`'s flow flag.
 */
export function writeJoined(socket: Socket, before: string, chunk: Buffer, after: string): boolean {
  if (chunk.length < COPY_BELOW_BYTES) {
    const out = Buffer.allocUnsafe(before.length + chunk.length + after.length);
    out.write(before, 0, 'latin1');
    chunk.copy(out, before.length);
    if (after.length !== 0) out.write(after, before.length + chunk.length, 'latin1');
    return socket.write(out);
  }
  socket.cork();
  socket.write(before, 'latin1');
  let flowing = socket.write(chunk);
  if (after.length !== 0) flowing = socket.write(after, 'latin1');
  socket.uncork();
  return flowing;
}
