import { signSubscriberToken } from '../auth/sign.js'
import {
  commandConfig,
  EXIT,
  parseDuration,
  parseOptions,
  stringOptions,
  UsageError,
  type Command,
} from './command.js'

/** `token`: a subscriber token for testing, signed with the configured key. */
export const token: Command = {
  name: 'token',
  summary: 'print a subscriber token for testing',
  usage: `Usage: tuleap-realtime token --user=ID [--rights=@site_active,@ug_101] [--ttl=30m] [--config=PATH]

Prints a subscriber token (docs/protocol.md §1.1) for user ID with the given groups, signed
with the key of the config (default: /etc/tuleap-realtime/config.json, else the
development config). --ttl: lifetime, e.g. 90s, 30m (default, like Tuleap), 2h.`,
  run(args, io) {
    const values = parseOptions(args, stringOptions('user', 'rights', 'ttl', 'config'))
    if (values.user === undefined || !/^-?\d+$/.test(values.user)) {
      throw new UsageError('--user=ID is required (an integer user id)')
    }
    const rights = (values.rights ?? '')
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r !== '')
    const ttl = parseDuration(values.ttl ?? '30m')
    const { config } = commandConfig(values.config, io)
    io.out(
      signSubscriberToken(Number(values.user), rights, ttl, config.nodejs_server_jwt_private_key),
    )
    return Promise.resolve(EXIT.OK)
  },
}
