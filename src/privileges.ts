import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { Config } from './config.js'
import { ConfigError } from './errors.js'

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

/** Users and groups by name, as this host knows them. */
export interface IdDirectory {
  /** The uid of user `name`, or null when there is none. */
  user(name: string): number | null
  /** The gid of group `name`, or null when there is none. */
  group(name: string): number | null
}

/** The id (third field) of `name` in `/etc/passwd`-style `text`, or null. */
export function idInFile(text: string, name: string): number | null {
  for (const line of text.split('\n')) {
    const fields = line.split(':')
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) {
      return Number(fields[2])
    }
  }
  return null
}

/**
 * This host's users and groups: `getent` (so LDAP or sssd users count, as they do for
 * setuid), else the files `/etc/passwd` and `/etc/group` where getent is not installed.
 */
export function systemDirectory(
  files = { passwd: '/etc/passwd', group: '/etc/group', getent: 'getent' },
): IdDirectory {
  const lookup = (db: 'passwd' | 'group', name: string): number | null => {
    const getent = spawnSync(files.getent, [db, name], { encoding: 'utf8', timeout: 5000 })
    if (getent.error === undefined)
      return getent.status === 0 ? idInFile(getent.stdout, name) : null
    try {
      return idInFile(readFileSync(files[db], 'utf8'), name)
    } catch {
      return null
    }
  }
  return { user: (name) => lookup('passwd', name), group: (name) => lookup('group', name) }
}

/**
 * Check that process_uid and process_gid name a user and a group of this host that are
 * not root (numeric ids are taken as they are, like setuid does), before anything binds:
 * otherwise the relay would listen, then fail at the switch. Throws a ConfigError.
 */
export function checkProcessIds(config: Config, directory: IdDirectory): void {
  const check = (key: 'process_uid' | 'process_gid', kind: 'user' | 'group'): void => {
    const value = config[key]
    if (value === '') return
    const text = String(value)
    const resolved = /^\d+$/.test(text) ? Number(text) : directory[kind](text)
    if (resolved === null) {
      throw new ConfigError(
        `${key}: no ${kind} "${text}" on this host (getent ${kind === 'user' ? 'passwd' : 'group'} ${text} finds nothing); create it (the RPM makes "tuleaprt") or name an existing one`,
      )
    }
    if (resolved === 0) {
      throw new ConfigError(
        `${key}: "${text}" is root (id 0); name an unprivileged ${kind}, e.g. "tuleaprt"`,
      )
    }
  }
  check('process_uid', 'user')
  check('process_gid', 'group')
}
