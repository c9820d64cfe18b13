/** Message factories: what a publish token carries, and what a broker stores. */
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

/** Publish `messages` on `broker`; the first one it stored (it must store one). */
export async function firstStored(
  broker: Pick<Broker, 'publish'>,
  messages: readonly Message[],
): Promise<StoredMessage> {
  const [stored] = (await broker.publish(messages)).stored
  if (stored === undefined) throw new Error(`nothing stored of ${JSON.stringify(messages)}`)
  return stored
}
