import { randomBytes } from 'node:crypto'
import { EXIT, parseOptions, type Command } from './command.js'

/** `genkey`: print a new random key, the same as `head -c 64 /dev/urandom | base64`. */
export const genkey: Command = {
  name: 'genkey',
  summary: 'print a new random key for nodejs_server_jwt_private_key',
  usage: `Usage: tuleap-realtime genkey

Prints a new random key (64 random bytes, base64): put the same value in
nodejs_server_jwt_private_key (relay) and $nodejs_server_jwt_private_key (Tuleap's
local.inc). The relay uses the printed text itself as the key; it is not decoded.`,
  run(args, io) {
    parseOptions(args, {})
    io.out(randomBytes(64).toString('base64'))
    return Promise.resolve(EXIT.OK)
  },
}
