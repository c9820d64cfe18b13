/** Message factories: what a publish token carries (raw and parsed), and what a broker stores. */
import type { Broker, StoredMessage } from '../../src/broker/broker.js'
import type { Message } from '../../src/protocol/message.js'

/** A parsed publish message for room `roomId`: no data, no rights, no sender; `extra` overrides. */
export const testMessage = (
  roomId: string,
  cmd: string,
  extra: Partial<Message> = {},
): Message => ({
  room_id: roomId,
  cmd,
  data: null,
  rights: null,
  sender_user_id: null,
  sender_uuid: null,
  ...extra,
})

/** A stored message of room 42, epoch e1, at `offset` (also its data); `extra` overrides. */
export const storedMessage = (
  offset: number,
  extra: Partial<StoredMessage> = {},
): StoredMessage => ({
  ...testMessage('42', 'kanban_item:move', { data: { offset } }),
  epoch: 'e1',
  offset,
  published_at: 0,
  ...extra,
})

let lastOffset = 0

/**
 * A stored message of `roomId`: `cmd` with `data`, at the next offset of this process (so
 * two calls never share one), epoch e1; `extra` overrides.
 */
export const nextStored = (
  roomId: string,
  cmd: string,
  data: unknown,
  extra: Partial<StoredMessage> = {},
): StoredMessage => storedMessage(++lastOffset, { room_id: roomId, cmd, data, ...extra })

/**
 * A message as a backend writes it in a publish token, before validation: only the
 * required fields (data null); `extra` adds or overrides any field, valid or not.
 */
export const wireMessage = (
  roomId: string | number,
  cmd: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({ room_id: roomId, cmd, data: null, ...extra })

/** Publish `messages` on `broker`; the first one it stored (it must store one). */
export async function firstStored(
  broker: Pick<Broker, 'publish'>,
  messages: readonly Message[],
): Promise<StoredMessage> {
  const [stored] = (await broker.publish(messages)).stored
  if (stored === undefined) throw new Error(`nothing stored of ${JSON.stringify(messages)}`)
  return stored
}
