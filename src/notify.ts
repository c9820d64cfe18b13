/**
 * Readiness for systemd's `Type=notify`: once the relay listens and runs unprivileged, it
 * tells systemd, so that `systemctl start` returns only then, and fails when the process
 * dies first.
 *
 * Node cannot send the AF_UNIX datagram of the notify protocol itself (its dgram module
 * has no unix sockets, and a native addon would make the RPM arch-specific), so the relay
 * runs systemd's own `systemd-notify --ready`, which ships with systemd wherever the unit
 * runs and waits until systemd has read the message (the sender is then known to be in
 * the service). The message comes from a child of the main process: the unit says
 * `NotifyAccess=all`.
 */
import { execFile } from 'node:child_process'
import type { Logger } from './log.js'

/** How long systemd-notify may take; systemd itself gives up at the unit's TimeoutStartSec. */
const NOTIFY_TIMEOUT_MS = 10_000

/** What notifyReady needs; the command is a parameter so that tests can stand in for it. */
export interface NotifyOptions {
  readonly env: NodeJS.ProcessEnv
  readonly logger: Logger
  /** One line for `systemctl status` (STATUS=). */
  readonly status: string
  readonly command?: string
}

/**
 * Signal READY=1 when started by systemd with a notify socket (`NOTIFY_SOCKET` set), else
 * do nothing. Resolves true once systemd has the message, false when there is no socket or
 * the notification failed (logged: systemd then stops the relay at TimeoutStartSec).
 * Never rejects.
 */
export function notifyReady(options: NotifyOptions): Promise<boolean> {
  const { env, logger, status, command = 'systemd-notify' } = options
  const socket = env.NOTIFY_SOCKET
  if (socket === undefined || socket === '') return Promise.resolve(false)
  return new Promise((resolve) => {
    execFile(
      command,
      ['--ready', `--status=${status}`],
      { env, timeout: NOTIFY_TIMEOUT_MS, windowsHide: true },
      (err, _stdout, stderr) => {
        if (err) {
          logger.error(
            { err, stderr: stderr.trim(), notify_socket: socket },
            `cannot tell systemd the relay is ready (${command} --ready failed): systemd will stop it at TimeoutStartSec`,
          )
          resolve(false)
          return
        }
        logger.debug({ notify_socket: socket }, 'systemd notified: ready')
        resolve(true)
      },
    )
  })
}
