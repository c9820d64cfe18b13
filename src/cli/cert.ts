import { DEFAULT_SAN, makeSelfSigned } from '../self-signed.js'
import { EXIT, parseOptions, stringOptions, UsageError, type Command } from './command.js'

/** `cert`: a self-signed certificate and key, for a test host or a relay behind a proxy. */
export const cert: Command = {
  name: 'cert',
  summary: 'make a self-signed certificate and key (needs openssl)',
  usage: `Usage: tuleap-realtime cert --cert=FILE --key=FILE [--name=NAME] [--san=SAN]

Makes a self-signed certificate (P-256, 825 days) and its key (mode 0600), as
ssl/make-self-signed.sh does. NAME is the common name (default: localhost); SAN the
subject alternative names in openssl's form (default: ${DEFAULT_SAN}),
e.g. --name=relay.example.com --san=DNS:relay.example.com. Browsers and Tuleap check the
SAN. An existing key is never overwritten. For production, use a certificate from your CA.`,
  run(args, io) {
    const values = parseOptions(args, stringOptions('cert', 'key', 'name', 'san'))
    if (values.cert === undefined || values.key === undefined) {
      throw new UsageError('--cert=FILE and --key=FILE are required')
    }
    const name = values.name ?? 'localhost'
    const san = values.san ?? (values.name !== undefined ? `DNS:${name}` : DEFAULT_SAN)
    makeSelfSigned(values.cert, values.key, name, san)
    io.out(`cert: wrote ${values.cert} and ${values.key} (CN=${name}, subjectAltName=${san})`)
    return Promise.resolve(EXIT.OK)
  },
}
