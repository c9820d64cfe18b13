/**
 * Buffers with memory of their own, for bytes kept as long as a message is (its frames
 * live with it in history, up to `history_size` per room for `history_ttl_s`).
 *
 * Node hands out Buffers under half of `Buffer.poolSize` (8 KiB on Node 20 and 22,
 * 64 KiB on Node 24) from `Buffer.from` and `Buffer.allocUnsafe` as slices of one shared
 * chunk of that size. A slice that stays alive keeps its whole chunk alive, and with it
 * every short-lived Buffer cut from the same chunk: through the relay's own publish path,
 * a 277-byte frame kept in history held 3,277 bytes of Buffer memory on Node 20
 * (`test/bench/history-memory.ts`). `Buffer.allocUnsafeSlow` is never cut from the
 * pool. It costs a separate allocation, 1 to 3 µs more than `Buffer.from` for a frame,
 * once per message, never per recipient.
 */

/** `text` as UTF-8, in a Buffer that is the whole of its memory. */
export function ownBytes(text: string): Buffer {
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text, 'utf8'))
  bytes.write(text, 'utf8')
  return bytes
}

/** `parts` one after the other, in a Buffer that is the whole of its memory. */
export function ownConcat(parts: readonly Buffer[]): Buffer {
  let total = 0
  for (const part of parts) total += part.length
  const out = Buffer.allocUnsafeSlow(total)
  let at = 0
  for (const part of parts) at += part.copy(out, at)
  return out
}
