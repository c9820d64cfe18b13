/**
 * The container image as a runtime runs it, on machines where `podman run` cannot (no
 * rlimits or cgroups for its runtimes): the image is built with `podman build --isolation
 * chroot --format docker` on a stand-in for the official Node 22 image
 * (test/container/make-base.sh), its filesystem exported once, then each container is that
 * filesystem mounted read-only with a tmpfs /tmp and the secrets folder, in its own mount
 * and PID namespaces (unshare), chrooted as the image's user with the image's environment,
 * working directory and entrypoint, on the machine's loopback network.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot, spawnProcess, type Spawned } from './process.js'
import type { Teardown } from './relay.js'

/** Where the base image's files and exported filesystems are cached, outside the repo. */
export const CACHE = process.env.TULEAP_REALTIME_TEST_CACHE ?? '/var/cache/tuleap-realtime-test'
export const BASE_IMAGE = 'localhost/tuleap-realtime-test-base:node22'
export const IMAGE = 'localhost/tuleap-realtime-test:latest'
export const CONTAINERFILE = join(projectRoot, 'packaging/container/Containerfile')

/** The part of `podman image inspect` the tests read. */
export interface ImageConfig {
  readonly Id: string
  readonly Size: number
  readonly Config: {
    readonly User?: string
    readonly Env?: string[]
    readonly Entrypoint?: string[]
    readonly Cmd?: string[] | null
    readonly WorkingDir?: string
    readonly Labels?: Record<string, string>
    readonly ExposedPorts?: Record<string, unknown>
    readonly StopSignal?: string
    readonly Healthcheck?: { readonly Test: string[] }
  }
}

/** Tools the image tests need, missing ones first: root, podman, unshare, chroot… */
export function missingContainerTools(): string[] {
  const missing: string[] = []
  if (process.getuid?.() !== 0) missing.push('root')
  for (const [tool, args] of [
    ['podman', ['--version']],
    ['debootstrap', ['--version']],
    ['unshare', ['--version']],
    ['chroot', ['--version']],
  ] as const) {
    if (spawnSync(tool, args, { stdio: 'ignore' }).status !== 0) missing.push(tool)
  }
  return missing
}

/** Run a command to its end (bounded); rejects with its output when it fails. */
export function runTo(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (out += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`${command} ${args.join(' ')}: ${code ?? signal}\n${out.slice(-4000)}`))
    })
  })
}

/** Build the base once (cached), then the image (podman's layer cache makes a rebuild fast). */
export async function buildImage(): Promise<ImageConfig> {
  await runTo('bash', [join(projectRoot, 'test/container/make-base.sh'), BASE_IMAGE], 20 * 60_000)
  await runTo(
    'podman',
    [
      ...['build', '--isolation', 'chroot', '--format', 'docker', '--build-arg'],
      `NODE_IMAGE=${BASE_IMAGE}`,
      ...['-f', CONTAINERFILE, '-t', IMAGE, projectRoot],
    ],
    20 * 60_000,
  )
  return inspect(IMAGE)
}

/** `podman image inspect` of one image. */
export function inspect(image: string): ImageConfig {
  const out = spawnSync('podman', ['image', 'inspect', image], { encoding: 'utf8' })
  if (out.status !== 0) throw new Error(`podman image inspect ${image}: ${out.stderr}`)
  const found = (JSON.parse(out.stdout) as (ImageConfig & { Healthcheck?: unknown })[])[0]!
  // podman reports the healthcheck beside Config, docker inside it.
  return found.Healthcheck === undefined
    ? found
    : {
        ...found,
        Config: { ...found.Config, Healthcheck: found.Healthcheck } as ImageConfig['Config'],
      }
}

/** The image's filesystem (`podman create` + `podman export`), extracted once per image id. */
export async function exportedRootfs(image: ImageConfig): Promise<string> {
  const dir = join(CACHE, `rootfs-${image.Id.slice(0, 12)}`)
  if (existsSync(`${dir}.done`)) return dir
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const id = (await runTo('podman', ['create', image.Id], 60_000)).trim().split('\n').pop()!
  try {
    await runTo('sh', ['-c', `podman export "$1" | tar -x -C "$2"`, 'sh', id, dir], 5 * 60_000)
  } finally {
    spawnSync('podman', ['rm', '-f', id], { stdio: 'ignore' })
  }
  writeFileSync(`${dir}.done`, '')
  return dir
}

/** The image's environment as a map (its ENV lines). */
export const imageEnv = (image: ImageConfig): Record<string, string> =>
  Object.fromEntries(
    (image.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  )

/**
 * What the runtime does before exec: the root read-only, tmpfs on /tmp and /run, the
 * secrets folder read-only at /run/secrets, a /proc of the new PID namespace, then chroot as
 * the image's user, into its working directory, with exactly its environment.
 */
const RUNTIME = `set -eu
root=$1 secrets=$2 user=$3 workdir=$4; shift 4
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir "$root/run/secrets"
mount --bind "$secrets" "$root/run/secrets"
mount -o remount,bind,ro "$root/run/secrets"
mount -t proc proc "$root/proc"
exec chroot --userspec="$user" "$root" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$workdir" "$@"
`

/** How a container of the image is started. */
export interface RunOptions {
  /** A folder mounted at /run/secrets. */
  readonly secrets: string
  /** Added to (and overriding) the image's environment. */
  readonly env?: Record<string, string>
  /** Replaces the image's entrypoint and command (as `podman exec` and HEALTHCHECK run). */
  readonly command?: readonly string[]
}

/** A container of `rootfs` (exported from `image`); its PID 1 SIGKILLed at teardown. */
export function runContainer(
  t: Teardown,
  rootfs: string,
  image: ImageConfig,
  options: RunOptions,
): Spawned {
  const env = { ...imageEnv(image), ...options.env }
  const command = options.command ?? [
    ...(image.Config.Entrypoint ?? []),
    ...(image.Config.Cmd ?? []),
  ]
  const user = image.Config.User ?? 'root'
  const userspec = /^\d+$/.test(user) ? `${user}:${user}` : idsOf(rootfs, user)
  const container = spawnProcess(
    t,
    'unshare',
    [
      ...['--mount', '--pid', '--fork', '--kill-child', '--propagation', 'private'],
      ...['sh', '-c', RUNTIME, 'sh'],
      ...[rootfs, options.secrets, userspec, image.Config.WorkingDir || '/'],
      ...['/usr/bin/env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)],
      ...command,
    ],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  )
  // Runs before spawnProcess's own teardown (SIGKILL to unshare): PID 1 must die first, as
  // --kill-child's death signal is cleared when chroot switches to the image's user, and
  // the namespace (and its output pipes) lives as long as its PID 1.
  t.teardown(() => {
    try {
      process.kill(pid1(container), 'SIGKILL')
    } catch {
      // Already gone: unshare has no child left.
    }
  })
  return container
}

/** uid:gid of `user` in the image's /etc/passwd. */
function idsOf(rootfs: string, user: string): string {
  const line = readFileSync(join(rootfs, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`))
  if (line === undefined) throw new Error(`no user ${user} in the image`)
  const [, , uid, gid] = line.split(':')
  return `${uid}:${gid}`
}

/**
 * The container's PID 1 as the host sees it: the child of unshare. A runtime's `kill`
 * signals that process; as PID 1 of its namespace, it gets only signals it handles.
 */
export function pid1(container: Spawned): number {
  const pid = container.child.pid!
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
  return Number(children.split(' ')[0])
}
