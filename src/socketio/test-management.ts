/**
 * Test Management presence, as Tuleap's historic realtime server kept it: per campaign
 * room, which page (uuid) views which execution. Tuleap publishes
 * `testmanagement_user:presence` with `data.presence = {execution_id, remove_from, uuid,
 * user}`; the pages expect the server to answer with the execution's whole viewer list
 * (`execution_to_add`, `execution_presences_to_add`, `execution_to_remove`,
 * `execution_presences_to_remove`, `user`), a `presences` map on subscription and
 * `user:leave` when a page goes.
 *
 * The state is derived from the room's ordered message stream (the broker's, so every
 * node that serves the room computes the same state from the same messages) and from
 * leave events (hub presence, which spans nodes). Applying a message is idempotent by
 * offset, so the stream listener and a delivery that comes first may both offer it.
 */
import type { StoredMessage } from '../broker/broker.js'

/** The command whose data the pages expect rewritten. */
export const PRESENCE_CMD = 'testmanagement_user:presence'
/** The command after which an execution's viewers are forgotten. */
export const EXECUTION_DELETE_CMD = 'testmanagement_execution:delete'
/** Rewrites remembered for replays (a replay re-sends a message the state has passed). */
const REMEMBERED = 256
/** Executions and viewers one room may track; beyond, new viewers are not recorded. */
const MAX_ENTRIES = 10_000

type Viewer = Record<string, unknown>

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Whether `data` has the shape the historic server rewrote (every key present). */
function presenceOf(data: unknown): Record<string, unknown> | null {
  if (!isObject(data) || !isObject(data.presence)) return null
  const p = data.presence
  return 'execution_id' in p && 'remove_from' in p && 'uuid' in p && 'user' in p ? p : null
}

/** Execution ids are object keys, as they were in the historic server's map. */
const key = (id: unknown): string => String(id)

/** One campaign room's viewers per execution. */
export class ExecutionPresences {
  /** execution id → viewers (the `user` objects with their `uuid`), in arrival order. */
  private readonly executions = new Map<string, Viewer[]>()
  private epoch = ''
  private offset = 0
  private entries = 0
  /** Rewritten data of recent presence messages, by `epoch:offset`. */
  private readonly rewritten = new Map<string, unknown>()

  /**
   * Take `m` into the state if it is new, and return the data the pages must receive for
   * it: the rewritten presence data for a presence message, `m.data` for any other one.
   */
  apply(m: StoredMessage): unknown {
    const id = `${m.epoch}:${m.offset}`
    const isNew = m.epoch !== this.epoch || m.offset > this.offset
    if (!isNew) return this.rewritten.has(id) ? this.rewritten.get(id) : m.data
    this.epoch = m.epoch
    this.offset = m.offset
    if (m.cmd === EXECUTION_DELETE_CMD && isObject(m.data) && 'artifact_id' in m.data) {
      this.dropExecution(key(m.data.artifact_id))
      return m.data
    }
    const presence = presenceOf(m.data)
    if (!presence) return m.data
    const data = this.update(presence)
    this.rewritten.set(id, data)
    if (this.rewritten.size > REMEMBERED) {
      this.rewritten.delete(this.rewritten.keys().next().value as string)
    }
    return data
  }

  /** The viewers of one execution, if it is listed. */
  private viewers(execution: string): Viewer[] | undefined {
    return this.executions.get(execution)
  }

  /** The `presences` event: execution id → its viewers. */
  snapshot(): Record<string, Viewer[]> {
    return Object.fromEntries(this.executions)
  }

  /** A page left: it views nothing any more; executions left without viewers go. */
  removeUuid(uuid: string | null): void {
    for (const [execution, viewers] of this.executions) {
      const kept = viewers.filter((v) => v.uuid !== uuid)
      this.entries -= viewers.length - kept.length
      if (kept.length === 0) this.executions.delete(execution)
      else this.executions.set(execution, kept)
    }
  }

  private dropExecution(execution: string): void {
    this.entries -= this.executions.get(execution)?.length ?? 0
    this.executions.delete(execution)
  }

  private removeFrom(execution: string, uuid: unknown): void {
    const viewers = this.executions.get(execution)
    if (!viewers) return
    const kept = viewers.filter((v) => v.uuid !== uuid)
    this.entries -= viewers.length - kept.length
    // As the historic server did: the execution stays listed, possibly empty.
    this.executions.set(execution, kept)
  }

  /**
   * The historic rules: leaving `remove_from` for another execution moves the page;
   * `remove_from` equal to `execution_id` (compared as the JSON values are, strictly)
   * only leaves; a page already listed somewhere is not listed twice (then `{}`).
   */
  private update(p: Record<string, unknown>): unknown {
    const user: Viewer = { ...(isObject(p.user) ? p.user : {}), uuid: p.uuid }
    const from = p.remove_from
    const fromKey = key(from)
    if (from !== p.execution_id && from !== '' && this.executions.has(fromKey)) {
      this.removeFrom(fromKey, p.uuid)
      return this.addOnce(p, user)
    }
    if (from === p.execution_id && this.executions.has(fromKey)) {
      this.removeFrom(fromKey, p.uuid)
      return this.answer('', from, user)
    }
    return this.addOnce(p, user)
  }

  private addOnce(p: Record<string, unknown>, user: Viewer): unknown {
    for (const viewers of this.executions.values()) {
      if (viewers.some((v) => v.uuid === p.uuid)) return {}
    }
    if (this.entries < MAX_ENTRIES) {
      const execution = key(p.execution_id)
      const viewers = this.executions.get(execution) ?? []
      viewers.push(user)
      this.executions.set(execution, viewers)
      this.entries += 1
    }
    return this.answer(p.execution_id, p.remove_from, user)
  }

  /** The data the pages get; the lists are copies, frozen in time with the message. */
  private answer(add: unknown, remove: unknown, user: Viewer): Record<string, unknown> {
    const data: Record<string, unknown> = { user }
    if (add !== '') {
      data.execution_to_add = add
      data.execution_presences_to_add = this.viewers(key(add))?.slice()
    }
    if (remove !== '') {
      data.execution_to_remove = remove
      data.execution_presences_to_remove = this.viewers(key(remove))?.slice()
    }
    return data
  }
}
