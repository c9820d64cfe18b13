import t from 'tap'
import { startRelay } from '../helpers/relay.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'

t.test('publish reaches a subscriber', async (t) => {
  const relay = await startRelay(t)
  const alice = await relay.connect()
  const sub = await alice.subscribe({
    room_id: '42',
    token: subscriberToken(101, ['@site_active']),
    uuid: 'tab-a',
  })
  t.match(sub, { type: 'subscribed', room_id: '42', offset: 0, presence_count: 1 })
  const res = await relay.publish({
    message: {
      room_id: 42,
      cmd: 'kanban_item:move',
      data: { artifact_id: 7 },
      rights: kanbanRights(),
    },
  })
  t.equal(res.status, 200)
  t.match(res.body, { accepted: [{ room_id: '42', offset: 1 }] })
  t.match(await alice.next(), {
    type: 'message',
    room_id: '42',
    offset: 1,
    cmd: 'kanban_item:move',
    data: { artifact_id: 7 },
  })
})
