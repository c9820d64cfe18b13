import { join } from 'node:path'
import t, { type Test } from 'tap'
import {
  checkCanDrop,
  checkProcessIds,
  dropPrivileges,
  idInFile,
  mustDrop,
  posixProcess,
  PrivilegeError,
  systemDirectory,
  type ProcessIds,
} from '../src/privileges.js'
import { testConfig } from './helpers/config.js'
import { thrown } from './helpers/errors.js'

type Call = [name: string, arg: unknown]

/** Names the fake resolves, like /etc/passwd and /etc/group would. */
const NAMES: Record<string, number> = { tuleaprt: 1001, 'tuleaprt-group': 1002 }
const resolve = (id: string | number): number => (typeof id === 'number' ? id : (NAMES[id] ?? -1))

/**
 * A fake process: records every setter call; a setter changes the ids the getters
 * report, as the kernel would, unless `stuck` (setters that "succeed" without effect).
 */
class FakeProcess implements ProcessIds {
  readonly calls: Call[] = []
  constructor(
    private uid: number,
    private gid: number,
    private groups: number[] = [gid],
    private readonly opts: { stuck?: boolean; throwOn?: 'setgroups' | 'setgid' | 'setuid' } = {},
  ) {}
  getuid(): number {
    return this.uid
  }
  getgid(): number {
    return this.gid
  }
  getgroups(): number[] {
    return [...this.groups]
  }
  setgroups(groups: readonly (string | number)[]): void {
    this.record('setgroups', [...groups])
    if (!this.opts.stuck) this.groups = groups.map(resolve)
  }
  setgid(id: string | number): void {
    this.record('setgid', id)
    if (!this.opts.stuck) this.gid = resolve(id)
  }
  setuid(id: string | number): void {
    this.record('setuid', id)
    if (!this.opts.stuck) this.uid = resolve(id)
  }
  private record(name: 'setgroups' | 'setgid' | 'setuid', arg: unknown): void {
    this.calls.push([name, arg])
    if (this.opts.throwOn === name) throw new Error(`EPERM, Operation not permitted (${name})`)
  }
}

const rootConfig = (uid: string | number = 65534, gid: string | number = 65534) =>
  testConfig({ process_uid: uid, process_gid: gid })

/** The PrivilegeError `fn` throws; fails the test if it throws nothing or something else. */
function privilegeError(t: Test, fn: () => unknown): string {
  const err = thrown(Error, fn)
  t.type(err, PrivilegeError)
  return err.message
}

t.test('not root: nothing is called, the current ids are returned', async (t) => {
  const proc = new FakeProcess(1000, 1000)
  t.equal(mustDrop(proc), false)
  t.same(dropPrivileges(testConfig(), proc), { uid: 1000, gid: 1000 })
  t.same(dropPrivileges(rootConfig(), proc), { uid: 1000, gid: 1000 })
  t.same(proc.calls, [])
  t.doesNotThrow(() => {
    checkCanDrop(testConfig(), proc)
  })
})

t.test('root without process_uid/process_gid: refused before any call', async (t) => {
  const proc = new FakeProcess(0, 0)
  t.equal(mustDrop(proc), true)
  t.match(
    privilegeError(t, () => {
      checkCanDrop(testConfig(), proc)
    }),
    /started as root but process_uid\/process_gid are not set/,
  )
  t.match(
    privilegeError(t, () => dropPrivileges(testConfig(), proc)),
    /process_uid\/process_gid are not set/,
  )
  t.same(proc.calls, [])
})

t.test(
  'root: setgroups([]), then setgid, then setuid; numeric strings become numbers',
  async (t) => {
    const cases: [uid: string | number, gid: string | number, calls: Call[], ids: object][] = [
      [
        65534,
        65534,
        [
          ['setgroups', []],
          ['setgid', 65534],
          ['setuid', 65534],
        ],
        { uid: 65534, gid: 65534 },
      ],
      [
        '1001',
        '1002',
        [
          ['setgroups', []],
          ['setgid', 1002],
          ['setuid', 1001],
        ],
        { uid: 1001, gid: 1002 },
      ],
      [
        'tuleaprt',
        'tuleaprt-group',
        [
          ['setgroups', []],
          ['setgid', 'tuleaprt-group'],
          ['setuid', 'tuleaprt'],
        ],
        { uid: 1001, gid: 1002 },
      ],
    ]
    for (const [uid, gid, calls, ids] of cases) {
      const proc = new FakeProcess(0, 0, [0])
      t.same(dropPrivileges(rootConfig(uid, gid), proc), ids, `ids for ${uid}/${gid}`)
      t.same(proc.calls, calls, `calls for ${uid}/${gid}`)
      t.same(proc.getgroups(), [], 'no supplementary group left')
    }
  },
)

t.test('a setter that throws: PrivilegeError naming the ids, nothing after it', async (t) => {
  for (const throwOn of ['setgroups', 'setgid', 'setuid'] as const) {
    const proc = new FakeProcess(0, 0, [0], { throwOn })
    const message = privilegeError(t, () =>
      dropPrivileges(rootConfig('tuleaprt', 'tuleaprt'), proc),
    )
    t.match(message, /cannot switch to process_uid "tuleaprt" \/ process_gid "tuleaprt": EPERM/)
    const names = proc.calls.map(([name]) => name)
    t.equal(names.at(-1), throwOn, `stops at ${throwOn}`)
  }
})

t.test('still root after the switch: PrivilegeError', async (t) => {
  const stuck = new FakeProcess(0, 0, [0], { stuck: true })
  t.match(
    privilegeError(t, () => dropPrivileges(rootConfig(), stuck)),
    /still privileged after the switch \(uid 0, gid 0\)/,
  )
  t.test('process_uid 0 is not a switch', async (t) => {
    const proc = new FakeProcess(0, 0, [0])
    t.match(
      privilegeError(t, () => dropPrivileges(rootConfig(0, 65534), proc)),
      /still privileged after the switch \(uid 0, gid 65534\)/,
    )
  })
  t.test('process_gid 0 is not a switch', async (t) => {
    const proc = new FakeProcess(0, 0, [0])
    t.match(
      privilegeError(t, () => dropPrivileges(rootConfig(65534, 0), proc)),
      /still privileged after the switch \(uid 65534, gid 0\)/,
    )
  })
  t.test('supplementary group 0 kept is not a switch', async (t) => {
    const proc = new FakeProcess(0, 0, [0])
    proc.setgroups = (groups) => {
      proc.calls.push(['setgroups', [...groups]])
    }
    t.match(
      privilegeError(t, () => dropPrivileges(rootConfig(), proc)),
      /still privileged after the switch/,
    )
  })
})

t.test('posixProcess is the running process and its methods work unbound', async (t) => {
  const proc = posixProcess()
  t.equal(proc.getuid(), process.getuid?.())
  t.equal(proc.getgid(), process.getgid?.())
  t.same(proc.getgroups(), process.getgroups?.())
})

t.test('idInFile: the third field of the named entry', async (t) => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\ntuleaprt:x:990:990::/opt:/sbin/nologin\n'
  t.equal(idInFile(passwd, 'tuleaprt'), 990)
  t.equal(idInFile(passwd, 'root'), 0)
  t.equal(idInFile(passwd, 'tuleap'), null, 'a prefix is not a name')
  t.equal(idInFile('broken:x:abc:0\n', 'broken'), null)
})

t.test('systemDirectory: getent, else the files', async (t) => {
  const viaGetent = systemDirectory()
  t.equal(viaGetent.user('root'), 0)
  t.equal(viaGetent.group('root'), 0)
  t.equal(viaGetent.user('no-such-user-42'), null)
  const dir = t.testdir({
    passwd: 'tuleaprt:x:990:991::/opt:/sbin/nologin\n',
    group: 'tuleaprt:x:991:\n',
  })
  const viaFiles = systemDirectory({
    passwd: join(dir, 'passwd'),
    group: join(dir, 'group'),
    getent: 'no-such-getent-command',
  })
  t.equal(viaFiles.user('tuleaprt'), 990)
  t.equal(viaFiles.group('tuleaprt'), 991)
  t.equal(viaFiles.user('root'), null, 'only the files are read')
  const unreadable = systemDirectory({
    passwd: join(dir, 'missing'),
    group: join(dir, 'missing'),
    getent: 'no-such-getent-command',
  })
  t.equal(unreadable.user('tuleaprt'), null)
})

t.test('checkProcessIds: names resolve, numbers pass, root and unknown names do not', async (t) => {
  const host = {
    user: (name: string) => (name === 'tuleaprt' ? 990 : name === 'root' ? 0 : null),
    group: (name: string) => (name === 'tuleaprt' ? 991 : null),
  }
  const ids = (process_uid: string | number, process_gid: string | number) =>
    testConfig({ process_uid, process_gid })
  t.doesNotThrow(() => checkProcessIds(ids('', ''), host), 'none set: nothing to check')
  t.doesNotThrow(() => checkProcessIds(ids('tuleaprt', 'tuleaprt'), host))
  t.doesNotThrow(() => checkProcessIds(ids(4242, '4243'), host), 'numeric ids as they are')
  t.throws(() => checkProcessIds(ids('nobody-here', 'tuleaprt'), host), {
    name: 'ConfigError',
    message: /^process_uid: no user "nobody-here" on this host/,
  })
  t.throws(() => checkProcessIds(ids('tuleaprt', 'nogrp'), host), {
    message: /^process_gid: no group "nogrp" on this host \(getent group nogrp/,
  })
  t.throws(() => checkProcessIds(ids('root', 'tuleaprt'), host), {
    message: /^process_uid: "root" is root \(id 0\)/,
  })
  t.throws(() => checkProcessIds(ids(990, 0), host), { message: /^process_gid: "0" is root/ })
})
