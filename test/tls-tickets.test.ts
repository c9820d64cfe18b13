/** TLS session resumption: a returning backend skips the full handshake; rotation ends it. */
import { once } from 'node:events'
import { connect, type SecureVersion, type TLSSocket } from 'node:tls'
import t from 'tap'
import { testCert } from './helpers/certs.js'
import { startRelay, type TestRelay } from './helpers/relay.js'

/**
 * One TLS connection to the relay, with `session` offered for resumption: whether the
 * server resumed it, and the session to offer next time. A full handshake gives a new
 * ticket (TLS 1.3 sends it after the handshake: awaited before closing); a resumed one
 * keeps the ticket it offered.
 */
async function handshake(
  relay: TestRelay,
  version: SecureVersion,
  session?: Buffer,
): Promise<{ reused: boolean; session: Buffer }> {
  const socket: TLSSocket = connect({
    host: '127.0.0.1',
    port: relay.port,
    ca: testCert().cert,
    servername: 'localhost',
    minVersion: version,
    maxVersion: version,
    ALPNProtocols: ['http/1.1'],
    ...(session ? { session } : {}),
  })
  let latest: Buffer | undefined
  socket.on('session', (s: Buffer) => {
    latest = s
  })
  await once(socket, 'secureConnect')
  const reused = socket.isSessionReused()
  if (!reused && latest === undefined) await once(socket, 'session')
  const next = latest ?? session
  socket.end()
  await once(socket, 'close')
  if (next === undefined) throw new Error('no session to resume')
  return { reused, session: next }
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  t.test(`${version}: a second connection with the first one's session resumes it`, async (t) => {
    const relay = await startRelay(t)
    const first = await handshake(relay, version)
    t.notOk(first.reused, 'the first connection makes a full handshake')
    const second = await handshake(relay, version, first.session)
    t.ok(second.reused, 'the second one resumes the session (ticket)')

    relay.app.relay.tickets?.rotate()
    const third = await handshake(relay, version, second.session)
    t.notOk(third.reused, 'after a rotation, the old ticket no longer resumes')
    const fourth = await handshake(relay, version, third.session)
    t.ok(fourth.reused, "the new key's tickets resume")
  })
}
