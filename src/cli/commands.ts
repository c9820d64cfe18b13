import { cert } from './cert.js'
import { checkConfigCommand } from './check-config.js'
import type { Command } from './command.js'
import { genkey } from './genkey.js'
import { health } from './health.js'
import { listen } from './listen.js'
import { publish } from './publish.js'
import { token } from './token.js'

/** Every operator command, in the order `help` lists them. */
export const COMMANDS: readonly Command[] = [
  checkConfigCommand,
  genkey,
  cert,
  token,
  publish,
  listen,
  health,
]

/** Top-level help text. */
export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `Usage: tuleap-realtime [--config=PATH]
       tuleap-realtime <command> [options]     (tuleap-realtime <command> --help)
       tuleap-realtime --version

Without a command, runs the relay. Without --config and without a key in the environment
(PRIVATE_KEY, PRIVATE_KEY_FILE), or with TULEAP_REALTIME_DEV=1, runs in development mode:
127.0.0.1:4443 with a generated self-signed certificate and key under ssl/ (or
$TULEAP_REALTIME_DEV_DIR); an installed copy (not writable) needs --config.

The commands read the key from the config or from PRIVATE_KEY (or PRIVATE_KEY_FILE), as
the relay does.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  this text

Exit codes: 0 success, 1 configuration or runtime error, 2 usage error.
`
}
