import type { Config } from './config.js'

/** The process calls privilege dropping needs; `process` in production, a fake in tests. */
export interface ProcessIds {
  getuid(): number
  getgid(): number
  getgroups(): number[]
  setgroups(groups: readonly (string | number)[]): void
  setgid(id: string | number): void
  setuid(id: string | number): void
}

/** The running process's ids; a PrivilegeError where the platform has none (not POSIX). */
export function posixProcess(): ProcessIds {
  const { getuid, getgid, getgroups, setgroups, setgid, setuid } = process
  if (!getuid || !getgid || !getgroups || !setgroups || !setgid || !setuid) {
    throw new PrivilegeError('this platform has no POSIX user and group ids')
  }
  return { getuid, getgid, getgroups, setgroups, setgid, setuid }
}

/** Starting or dropping privileges failed; the relay must not run. */
export class PrivilegeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PrivilegeError'
  }
}

const id = (value: string | number): string | number =>
  typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value

/** True when the process runs as root and so must drop privileges after binding. */
export function mustDrop(proc: ProcessIds): boolean {
  return proc.getuid() === 0
}

/** Refuse, before binding anything, to run as root without a user to switch to. */
export function checkCanDrop(config: Config, proc: ProcessIds): void {
  if (mustDrop(proc) && (config.process_uid === '' || config.process_gid === '')) {
    throw new PrivilegeError(
      'started as root but process_uid/process_gid are not set: refusing to run as root; set them to an unprivileged user and group (e.g. "tuleaprt")',
    )
  }
}

/**
 * As root: clear supplementary groups, then setgid, then setuid (in that order: after
 * setuid the other two are no longer allowed), and check the result. Not root: nothing
 * to do. Any failure is a PrivilegeError: the caller exits rather than carry on as root.
 */
export function dropPrivileges(config: Config, proc: ProcessIds): { uid: number; gid: number } {
  if (!mustDrop(proc)) return { uid: proc.getuid(), gid: proc.getgid() }
  checkCanDrop(config, proc)
  try {
    proc.setgroups([])
    proc.setgid(id(config.process_gid))
    proc.setuid(id(config.process_uid))
  } catch (err) {
    throw new PrivilegeError(
      `cannot switch to process_uid "${config.process_uid}" / process_gid "${config.process_gid}": ${(err as Error).message}`,
    )
  }
  const uid = proc.getuid()
  const gid = proc.getgid()
  if (uid === 0 || gid === 0 || proc.getgroups().some((g) => g === 0 && g !== gid)) {
    throw new PrivilegeError(
      `still privileged after the switch (uid ${uid}, gid ${gid}): process_uid and process_gid must not be root`,
    )
  }
  return { uid, gid }
}
