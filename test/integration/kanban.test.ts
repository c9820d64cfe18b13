/**
 * The product scenario end to end, over real TLS with real `ws` clients: a Kanban card
 * moved by one user reaches exactly the viewers whose rights allow it, never the tab
 * that moved it.
 */
import t from 'tap'
import { startRelay, type TestClient, type TestRelay } from '../helpers/relay.js'
import { kanbanRights, subscriberToken } from '../helpers/tokens.js'

const ROOM = '42'

/** Tuleap's `kanban_item:move` data shape. */
const moveData = (artifactId: number) => ({
  artifact_id: artifactId,
  in_column: 3,
  from_column: 2,
  ordered_destination_column_items_ids: [artifactId, 12, 13],
})

async function viewer(
  relay: TestRelay,
  userId: number,
  groups: string[],
  uuid: string,
): Promise<TestClient> {
  const client = await relay.connect()
  const answer = await client.subscribe({
    room_id: ROOM,
    token: subscriberToken(userId, groups),
    uuid,
  })
  if (answer.type !== 'subscribed') throw new Error(`subscribe refused: ${JSON.stringify(answer)}`)
  return client
}

t.test('a card move reaches the viewers who may see it, and nobody else', async (t) => {
  const relay = await startRelay(t)
  const alice = await viewer(relay, 101, ['@site_active', '@ug_101'], 'alice-tab')
  const bob = await viewer(relay, 102, ['@site_active'], 'bob-tab')
  const carol = await viewer(relay, 103, ['@ug_7'], 'carol-tab')

  const res = await relay.publish({
    message: {
      room_id: 42,
      cmd: 'kanban_item:move',
      data: moveData(11),
      rights: kanbanRights({ tracker: ['@ug_101'], artifact: [] }),
      sender_user_id: 104,
      sender_uuid: 'dave-tab',
    },
  })
  t.equal(res.status, 200)
  t.same(res.body, {
    accepted: [
      { room_id: '42', epoch: (res.body.accepted as { epoch: string }[])[0]!.epoch, offset: 1 },
    ],
  })
  t.match(await alice.next(), {
    type: 'message',
    room_id: '42',
    offset: 1,
    cmd: 'kanban_item:move',
    data: moveData(11),
  })
  // A later message everyone may see proves bob and carol did not get the first one.
  await relay.publish({ message: { room_id: ROOM, cmd: 'kanban_item:update', data: 'x' } })
  t.match(await bob.next(), { type: 'message', offset: 2, cmd: 'kanban_item:update' })
  t.match(await carol.next(), { type: 'message', offset: 2, cmd: 'kanban_item:update' })
  t.match(await alice.next(), { type: 'message', offset: 2 })
})

t.test('rights: each branch of the predicate', async (t) => {
  const relay = await startRelay(t)
  const member = await viewer(relay, 201, ['@site_active', '@ug_101'], 'm')
  const other = await viewer(relay, 202, ['@site_active', '@ug_102'], 'o')
  const submitter = await viewer(relay, 203, ['@site_active'], 's')
  const outsider = await viewer(relay, 204, ['@ug_10'], 'x')

  const cases: { name: string; rights: Record<string, unknown>; receivers: TestClient[] }[] = [
    {
      name: 'tracker group, no artifact restriction',
      rights: kanbanRights({ tracker: ['@site_active'] }),
      receivers: [member, other, submitter],
    },
    {
      name: 'artifact restricted to one group',
      rights: kanbanRights({ tracker: ['@site_active'], artifact: ['@ug_101'] }),
      receivers: [member],
    },
    {
      name: 'exact string groups: @ug_1 is not @ug_10',
      rights: kanbanRights({ tracker: ['@ug_1'] }),
      receivers: [],
    },
    {
      name: 'submitter only (branch B)',
      rights: kanbanRights({
        tracker: ['@ug_999'],
        submitter_id: 203,
        submitter_can_view: true,
        submitter_only: ['@site_active'],
      }),
      receivers: [submitter],
    },
    {
      name: 'submitter who may not view',
      rights: kanbanRights({
        tracker: ['@ug_999'],
        submitter_id: 203,
        submitter_can_view: false,
        submitter_only: ['@site_active'],
      }),
      receivers: [],
    },
  ]
  const everyone = [member, other, submitter, outsider]
  let offset = 0
  for (const c of cases) {
    offset += 1
    const res = await relay.publish({
      message: { room_id: ROOM, cmd: 'case', data: c.name, rights: c.rights },
    })
    t.equal(res.status, 200, c.name)
    // A marker everyone receives closes each case.
    offset += 1
    await relay.publish({ message: { room_id: ROOM, cmd: 'marker', data: offset } })
    for (const client of everyone) {
      const first = await client.next()
      if (c.receivers.includes(client)) {
        t.match(first, { cmd: 'case', data: c.name }, `${c.name}: received`)
        t.match(await client.next(), { cmd: 'marker', offset }, `${c.name}: then the marker`)
      } else {
        t.match(first, { cmd: 'marker', offset }, `${c.name}: not received`)
      }
    }
  }
})

t.test('sender exclusion: not the tab that made the change, but its other tabs', async (t) => {
  const relay = await startRelay(t)
  const tab1 = await viewer(relay, 301, ['@site_active'], 'tab-1')
  const tab2 = await viewer(relay, 301, ['@site_active'], 'tab-2')
  const sameUuidOtherUser = await viewer(relay, 302, ['@site_active'], 'tab-1')
  await relay.publish({
    message: {
      room_id: ROOM,
      cmd: 'kanban_item:move',
      data: 1,
      sender_user_id: 301,
      sender_uuid: 'tab-1',
    },
  })
  await relay.publish({ message: { room_id: ROOM, cmd: 'marker', data: 2 } })
  t.match(await tab1.next(), { cmd: 'marker', offset: 2 }, 'the sending tab is skipped')
  t.match(
    await tab2.next(),
    { cmd: 'kanban_item:move', offset: 1 },
    'the same user in another tab receives',
  )
  t.match(
    await sameUuidOtherUser.next(),
    { cmd: 'kanban_item:move', offset: 1 },
    'uuid alone excludes nobody',
  )
})

t.test('a batch is broadcast in order and answered one entry per message', async (t) => {
  const relay = await startRelay(t)
  const a = await viewer(relay, 401, ['@site_active'], 'a')
  const other = await relay.connect()
  await other.subscribe({
    room_id: 'testmanagement_7',
    token: subscriberToken(402, ['@site_active']),
    uuid: 'b',
  })
  const messages = [
    { room_id: ROOM, cmd: 'kanban_item:create', data: { id: 1 } },
    { room_id: 'testmanagement_7', cmd: 'testmanagement_execution:update', data: { id: 2 } },
    { room_id: ROOM, cmd: 'kanban_item:move', data: { id: 3 } },
  ]
  const res = await relay.publish({ messages })
  t.equal(res.status, 200)
  t.match(res.body, {
    accepted: [
      { room_id: ROOM, offset: 1 },
      { room_id: 'testmanagement_7', offset: 1 },
      { room_id: ROOM, offset: 2 },
    ],
  })
  t.match(await a.next(), { cmd: 'kanban_item:create', offset: 1 })
  t.match(await a.next(), { cmd: 'kanban_item:move', offset: 2 })
  t.match(await other.next(), {
    cmd: 'testmanagement_execution:update',
    room_id: 'testmanagement_7',
  })
})

t.test('a repeated jti is answered as a duplicate and not broadcast again', async (t) => {
  const relay = await startRelay(t)
  const a = await viewer(relay, 501, ['@site_active'], 'a')
  const claims = { jti: 'publish-1', message: { room_id: ROOM, cmd: 'kanban_item:move', data: 1 } }
  const first = await relay.publish(claims)
  const again = await relay.publish(claims)
  t.equal(first.status, 200)
  t.equal(again.status, 200)
  t.equal(again.body.duplicate, true)
  t.same(again.body.accepted, first.body.accepted, 'the duplicate answers what the first accepted')
  t.match(await a.next(), { offset: 1 })
  await relay.publish({ message: { room_id: ROOM, cmd: 'marker' } })
  t.match(await a.next(), { cmd: 'marker', offset: 2 }, 'no second broadcast')
})

t.test('data is passed through untouched', async (t) => {
  const relay = await startRelay(t)
  const a = await viewer(relay, 601, ['@site_active'], 'a')
  const values: unknown[] = [
    '',
    0,
    1.5,
    [1, 'a', null],
    { nested: { deep: [true] } },
    null,
    'é ü 中',
  ]
  for (const data of values) await relay.publish({ message: { room_id: ROOM, cmd: 'x', data } })
  await relay.publish({ message: { room_id: ROOM, cmd: 'no-data' } })
  for (const data of values) t.same((await a.next()).data, data)
  t.same((await a.next()).data, null, 'absent data is null')
})
