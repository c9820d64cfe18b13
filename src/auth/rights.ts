import { RelayError } from '../errors.js'

/** Tuleap's `rights` object of a message (docs/protocol.md §4), validated. */
export interface Rights {
  readonly submitter_id: number | null
  readonly submitter_can_view: boolean
  readonly submitter_only: readonly string[]
  readonly tracker: readonly string[]
  readonly artifact: readonly string[]
}

/** `name` is the field's full path for the error, e.g. `messages[3].rights.tracker`. */
function stringArray(value: unknown, name: string, nonEmpty: boolean): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new RelayError('RELAY_ERR_PUBLISH_BAD_RIGHTS', `${name} must be an array of strings`)
  }
  if (nonEmpty && value.length === 0) {
    throw new RelayError('RELAY_ERR_PUBLISH_BAD_RIGHTS', `${name} must not be empty`)
  }
  return value
}

/** Validate a message's `rights`; all five keys are required, `field` is ignored. */
export function parseRights(value: unknown, where = 'rights'): Rights {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RelayError('RELAY_ERR_PUBLISH_BAD_RIGHTS', `${where} must be an object`)
  }
  const r = value as Record<string, unknown>
  for (const key of [
    'submitter_id',
    'submitter_can_view',
    'submitter_only',
    'tracker',
    'artifact',
  ]) {
    if (!(key in r)) {
      throw new RelayError('RELAY_ERR_PUBLISH_BAD_RIGHTS', `${where}.${key} is required`)
    }
  }
  const submitterId = r.submitter_id
  if (
    submitterId !== null &&
    !(typeof submitterId === 'number' && Number.isSafeInteger(submitterId))
  ) {
    throw new RelayError(
      'RELAY_ERR_PUBLISH_BAD_RIGHTS',
      `${where}.submitter_id must be an integer or null`,
    )
  }
  if (typeof r.submitter_can_view !== 'boolean') {
    throw new RelayError(
      'RELAY_ERR_PUBLISH_BAD_RIGHTS',
      `${where}.submitter_can_view must be a boolean`,
    )
  }
  return {
    submitter_id: submitterId,
    submitter_can_view: r.submitter_can_view,
    submitter_only: stringArray(r.submitter_only, `${where}.submitter_only`, false),
    tracker: stringArray(r.tracker, `${where}.tracker`, true),
    artifact: stringArray(r.artifact, `${where}.artifact`, false),
  }
}

function intersects(groups: ReadonlySet<string>, list: readonly string[]): boolean {
  for (const g of list) if (groups.has(g)) return true
  return false
}

/**
 * docs/protocol.md §4: may user `userId` with `groups` receive a message with `rights`?
 * (A) a tracker group and (no artifact restriction or an artifact group), or
 * (B) the submitter, allowed to view, in a submitter_only group.
 * Cost is linear in the message's lists; `groups` is a Set built once per token.
 */
export function canReceive(rights: Rights, userId: number, groups: ReadonlySet<string>): boolean {
  if (
    intersects(groups, rights.tracker) &&
    (rights.artifact.length === 0 || intersects(groups, rights.artifact))
  ) {
    return true
  }
  return (
    rights.submitter_id === userId &&
    rights.submitter_can_view &&
    intersects(groups, rights.submitter_only)
  )
}
