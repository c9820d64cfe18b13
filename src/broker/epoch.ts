import { randomBytes } from 'node:crypto'

/** A fresh random epoch: a room whose history starts afresh gets a new one (docs/protocol.md §6). */
export function newEpoch(): string {
  return randomBytes(9).toString('base64url')
}
