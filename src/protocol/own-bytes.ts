/**
 * Buffers with memory of their own, for bytes kept as long as a message is (its frames
 * live with it in history, up to `history_size` per room for `history_ttl_s`).
 *
 * Node hands out small Buffers (`Buffer.from`, `Buffer.allocUnsafe`, under 4 KiB) as
 * slices of a shared 8 KiB chunk. A slice that stays alive keeps its whole chunk alive,
 * and with it every short-lived Buffer that was cut from the same chunk: a 300-byte frame
 * kept in history could hold 8 KiB, where `history_max_bytes` counted 300. A Buffer of its
 * own costs a separate allocation (under a microsecond), once per message, never per
 * recipient.
 */

const utf8 = new TextEncoder()

/** `text` as UTF-8, in a Buffer that is the whole of its memory. */
export function ownBytes(text: string): Buffer {
  const bytes = utf8.encode(text)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
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
