import t from 'tap'
import { canReceive, parseRights, type Rights } from '../../src/auth/rights.js'
import { RelayError } from '../../src/errors.js'
import { kanbanRights } from '../helpers/tokens.js'
import { thrown } from '../helpers/errors.js'

const KEYS = ['submitter_id', 'submitter_can_view', 'submitter_only', 'tracker', 'artifact']

/** The RelayError parseRights throws for `value`; fails the test when it does not throw one. */
const refusal = (value: unknown, where?: string): RelayError =>
  thrown(RelayError, () => parseRights(value, where))

const rights = (overrides: Record<string, unknown> = {}): Rights =>
  parseRights(kanbanRights(overrides))

t.test('parseRights', async (t) => {
  t.test('accepts the Tuleap shape and returns the five keys', async (t) => {
    t.same(
      parseRights({
        submitter_id: 101,
        submitter_can_view: true,
        submitter_only: ['@ug_3'],
        tracker: ['@site_active'],
        artifact: ['@ug_1'],
      }),
      {
        submitter_id: 101,
        submitter_can_view: true,
        submitter_only: ['@ug_3'],
        tracker: ['@site_active'],
        artifact: ['@ug_1'],
      },
    )
  })

  t.test('each missing key is refused with an error naming it', async (t) => {
    for (const key of KEYS) {
      const value = Object.fromEntries(Object.entries(kanbanRights()).filter(([k]) => k !== key))
      const err = refusal(value)
      t.equal(err.code, 'RELAY_ERR_PUBLISH_BAD_RIGHTS', key)
      t.equal(err.status, 400, key)
      t.match(err.message, `rights.${key}`, key)
    }
  })

  t.test('errors carry the caller-given location', async (t) => {
    const missing = kanbanRights()
    delete missing.tracker
    t.match(refusal(missing, 'messages[3].rights').message, 'messages[3].rights.tracker')
    t.match(
      refusal(kanbanRights({ tracker: 'x' }), 'messages[3].rights').message,
      'messages[3].rights.tracker',
    )
    t.match(
      refusal(kanbanRights({ artifact: [1] }), 'messages[2].rights').message,
      'messages[2].rights.artifact',
    )
    t.match(
      refusal(kanbanRights({ submitter_id: 'x' }), 'messages[1].rights').message,
      'messages[1].rights.submitter_id',
    )
  })

  t.test('wrong types are refused, naming the key', async (t) => {
    const cases: [string, unknown][] = [
      ['submitter_id', '101'],
      ['submitter_id', 1.5],
      ['submitter_id', true],
      ['submitter_id', Number.MAX_SAFE_INTEGER + 1],
      ['submitter_can_view', 'true'],
      ['submitter_can_view', 1],
      ['submitter_can_view', null],
      ['submitter_only', null],
      ['submitter_only', '@ug_1'],
      ['submitter_only', [1]],
      ['tracker', {}],
      ['tracker', ['@ug_1', null]],
      ['artifact', 'x'],
      ['artifact', [['@ug_1']]],
    ]
    for (const [key, bad] of cases) {
      const err = refusal(kanbanRights({ [key]: bad }))
      t.equal(err.code, 'RELAY_ERR_PUBLISH_BAD_RIGHTS', `${key}: ${JSON.stringify(bad)}`)
      t.match(err.message, key, `${key}: ${JSON.stringify(bad)}`)
    }
  })

  t.test('rights that are not an object are refused', async (t) => {
    for (const bad of [null, [], 'rights', 42, true]) {
      t.equal(refusal(bad).code, 'RELAY_ERR_PUBLISH_BAD_RIGHTS', JSON.stringify(bad))
    }
  })

  t.test('submitter_id may be null; submitter_only and artifact may be empty', async (t) => {
    t.same(rights(), {
      submitter_id: null,
      submitter_can_view: false,
      submitter_only: [],
      tracker: ['@site_active'],
      artifact: [],
    })
  })

  t.test('`field` is ignored', async (t) => {
    const parsed = parseRights(kanbanRights({ field: { 12: ['@ug_1'] } }))
    t.notOk('field' in parsed)
    t.same(Object.keys(parsed).sort(), [...KEYS].sort())
  })

  t.test('an empty tracker list is refused', async (t) => {
    const err = refusal(kanbanRights({ tracker: [] }))
    t.equal(err.code, 'RELAY_ERR_PUBLISH_BAD_RIGHTS')
    t.match(err.message, 'tracker')
  })
})

t.test('canReceive', async (t) => {
  const groups = (...g: string[]): ReadonlySet<string> => new Set(g)

  t.test('branch A: a tracker group, no artifact restriction', async (t) => {
    const r = rights({ tracker: ['@ug_1', '@ug_2'] })
    t.ok(canReceive(r, 7, groups('@ug_2')))
    t.notOk(canReceive(r, 7, groups('@ug_3')))
    t.notOk(canReceive(r, 7, groups()))
  })

  t.test('branch A with an artifact restriction', async (t) => {
    const r = rights({ tracker: ['@ug_1'], artifact: ['@ug_5'] })
    t.ok(canReceive(r, 7, groups('@ug_1', '@ug_5')), 'in tracker and artifact groups')
    t.notOk(canReceive(r, 7, groups('@ug_1')), 'in the tracker group only')
    t.notOk(canReceive(r, 7, groups('@ug_5')), 'in the artifact group only')
  })

  t.test('branch B: the submitter who may view it', async (t) => {
    const r = rights({
      tracker: ['@ug_1'],
      artifact: ['@ug_5'],
      submitter_id: 101,
      submitter_can_view: true,
      submitter_only: ['@ug_9'],
    })
    t.ok(canReceive(r, 101, groups('@ug_9')), 'B holds')
    t.notOk(canReceive(r, 102, groups('@ug_9')), 'another user')
    t.notOk(
      canReceive({ ...r, submitter_can_view: false }, 101, groups('@ug_9')),
      'submitter_can_view false',
    )
    t.notOk(canReceive(r, 101, groups('@ug_8')), 'not in a submitter_only group')
    t.notOk(canReceive({ ...r, submitter_only: [] }, 101, groups('@ug_9')), 'empty submitter_only')
    t.notOk(canReceive({ ...r, submitter_id: null }, 101, groups('@ug_9')), 'no submitter')
    t.ok(canReceive(r, 102, groups('@ug_1', '@ug_5')), 'A still holds for others')
  })

  t.test('group names compare as exact strings', async (t) => {
    const r = rights({ tracker: ['@ug_1'] })
    t.notOk(canReceive(r, 7, groups('@ug_10')))
    t.notOk(canReceive(rights({ tracker: ['@ug_10'] }), 7, groups('@ug_1')))
    t.notOk(canReceive(r, 7, groups('@UG_1')))
    t.notOk(canReceive(r, 7, groups(' @ug_1')))
    t.ok(canReceive(r, 7, groups('@ug_1')))
  })

  t.test('user ids compare as integers', async (t) => {
    const r = parseRights(
      JSON.parse(
        '{"submitter_id":101.0,"submitter_can_view":true,"submitter_only":["@ug_9"],"tracker":["@ug_1"],"artifact":[]}',
      ),
    )
    t.ok(canReceive(r, 101, groups('@ug_9')), '101.0 in JSON is user 101')
    t.notOk(canReceive(r, 1010, groups('@ug_9')))
    t.notOk(canReceive(r, 10, groups('@ug_9')))
    t.throws(() => parseRights(kanbanRights({ submitter_id: '101' })), 'a string id is refused')
  })
})
