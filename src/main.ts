#!/usr/bin/env node
/**
 * The process: argv, config, build app, listen, drop privileges, signals, exit codes.
 * This module owns the startup order:
 * load config → read TLS files → build the app → listen → drop privileges → tell systemd
 * (Type=notify) → serve.
 * On SIGTERM or SIGINT it hands over to src/shutdown.ts, which owns the shutdown order:
 * refuse new requests → close every subscriber (/ws with 1001, socket.io pages by closing
 * their transport) → stop listening → close the broker → flush logs → exit, bounded by
 * shutdown_timeout_ms.
 */
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { pino, type LoggerOptions } from 'pino'
import { buildApp } from './app.js'
import { BrokerStartError } from './broker/create-broker.js'
import { UsageError, type Command, type Io } from './cli/command.js'
import { COMMANDS, usage } from './cli/commands.js'
import { configWarnings, loadConfig, type Config, type ConfigSource } from './config.js'
import { ConfigError } from './errors.js'
import { ensureDevSetup, projectRoot, type DevSetup } from './dev-defaults.js'
import { keyInEnvironment } from './key-file.js'
import { createLogger, type Logger } from './log.js'
import { notifyReady } from './notify.js'
import {
  checkCanDrop,
  checkProcessIds,
  dropPrivileges,
  mustDrop,
  posixProcess,
  PrivilegeError,
  systemDirectory,
} from './privileges.js'
import { reloadRelay } from './reload.js'
import { shutdownProcess } from './shutdown.js'
import { readTlsFiles } from './tls.js'
import { RELAY_VERSION } from './version.js'

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

/**
 * Development mode keeps its generated files (key, certificate, demo board) in this folder
 * instead of the project's `ssl/`: a second development relay (the browser tests) then
 * shares nothing with the developer's.
 */
const DEV_DIR_ENV = 'TULEAP_REALTIME_DEV_DIR'

/**
 * Development defaults belong to `npm start`, never to a relay configured another way: they
 * apply without --config only, when TULEAP_REALTIME_DEV is 1, or when it is unset and the
 * environment carries no key (PRIVATE_KEY, PRIVATE_KEY_FILE). The container image sets 0.
 */
const DEV_ENV = 'TULEAP_REALTIME_DEV'

function wantsDevMode(configFile: string | undefined, env: NodeJS.ProcessEnv): boolean {
  if (configFile !== undefined) return false
  const asked = env[DEV_ENV]
  if (asked === '1') return true
  if (asked === '0') return false
  return !keyInEnvironment(env)
}

/**
 * The process logger writes synchronously to stdout: every path out of the process ends in
 * process.exit, and pino's default asynchronous stream would let a line still being written
 * be overtaken (or lost) by the lines flushed at exit.
 */
const processLogger = (level: LoggerOptions['level']): Logger =>
  createLogger(level, pino.destination({ dest: 1, sync: true }))

function fail(logger: Logger, message: string, err?: unknown): never {
  logger.fatal({ err }, message)
  logger.flush()
  // One line per problem, as check-config prints them; never a stack trace.
  const [first = '', ...more] = message.split('\n')
  const prefix = first.slice(0, first.indexOf(': ') + 2)
  process.stderr.write(
    [first, ...more.map((line) => `${prefix}${line}`)]
      .map((l) => `tuleap-realtime: ${l}\n`)
      .join(''),
  )
  process.exit(EXIT_FAILURE)
}

function devBanner(config: Config, dev: DevSetup, demoPath: string): string {
  const base = `https://${config.address}:${config.port}`
  return [
    'tuleap-realtime is running in development mode',
    `  Kanban demo: ${base}${demoPath} (open it in two tabs, as alice, bob and carol)`,
    `  WebSocket:   wss://${config.address}:${config.port}/ws`,
    `  Publish:     POST ${base}/message`,
    `  Key:         ${dev.configFile} (nodejs_server_jwt_private_key; generated, mode 0600)`,
    `  Certificate: ${dev.certFile} (self-signed)`,
    '  Watch room 42, then publish to it from another terminal (both sign with the key):',
    `    node dist/src/main.js listen --config=${dev.configFile} --room=42`,
    `    node dist/src/main.js publish --config=${dev.configFile} --url=${base} --room=42 --cmd=demo:hello --data='{"hello":"world"}'`,
    '',
  ].join('\n')
}

async function run(configFile: string | undefined): Promise<void> {
  const bootLogger = processLogger('info')
  // SIGHUP's default action kills the process: until the relay serves, it is only noted.
  let onReload = (): void => {
    bootLogger.warn('SIGHUP while starting: ignored (nothing to reload yet)')
  }
  process.on('SIGHUP', () => {
    onReload()
  })
  let config: Config
  let dev: DevSetup | null = null
  let tls
  let source: ConfigSource
  try {
    if (wantsDevMode(configFile, process.env)) {
      const devDir = process.env[DEV_DIR_ENV]
      dev = ensureDevSetup(projectRoot(), devDir === '' ? undefined : devDir)
    }
    source = {
      file: configFile ?? dev?.configFile,
      env: process.env,
      ...(dev ? { values: dev.values } : {}),
    }
    config = loadConfig(source)
    const proc = posixProcess()
    checkCanDrop(config, proc)
    // Before binding: a user that does not exist fails here, not after listening.
    if (mustDrop(proc)) checkProcessIds(config, systemDirectory())
    tls = readTlsFiles(config)
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PrivilegeError) {
      fail(bootLogger, `configuration error: ${err.message}`)
    }
    throw err
  }
  const logger = processLogger(config.log_level)
  for (const warning of configWarnings(config)) logger.warn(warning)
  let app: FastifyInstance
  try {
    app = await buildApp(config, { tls, logger })
  } catch (err) {
    // Redis unreachable at start (broker.wait_for_redis false): say so, exit 1.
    if (err instanceof BrokerStartError) fail(logger, `broker error: ${err.message}`)
    throw err
  }
  let demoPath = ''
  if (dev) {
    // Development mode only, never with --config: the Kanban demo and its stand-in backend.
    // Imported here, not at the top: a production start never loads the demo's code.
    const { DEMO_PATH, demoPlugin } = await import('./demo/plugin.js')
    demoPath = DEMO_PATH
    await app.register(demoPlugin, {
      key: config.nodejs_server_jwt_private_key,
      ca: tls?.cert ?? null,
      stateFile: join(dirname(dev.configFile), 'demo-board.json'),
    })
  }
  try {
    await app.listen({ port: config.port, host: config.address })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const hint =
      code === 'EADDRINUSE'
        ? ': the port is in use by another process (ss -ltnp to see which)'
        : code === 'EACCES'
          ? ': ports below 1024 need root (the relay drops privileges after binding)'
          : ''
    fail(logger, `cannot listen on ${config.address} port ${config.port}${hint}`, err)
  }
  let ids: { uid: number; gid: number }
  try {
    ids = dropPrivileges(config, posixProcess())
  } catch (err) {
    // Never carry on as root: exit at once, without waiting for the sockets.
    fail(logger, `privilege drop failed: ${(err as Error).message}`)
  }
  // Handlers before the ready line: a signal sent as soon as it is seen must shut down
  // gracefully, not hit the default action (kill) of a signal without a handler.
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    void shutdownProcess(app, logger, signal, config.shutdown_timeout_ms)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  // SIGHUP (systemctl reload, certbot and logrotate hooks): re-read certificate, key and log
  // level; never exit on it. A failed reload keeps everything as it was.
  onReload = () => {
    if (stopping) return
    try {
      const reloaded = reloadRelay(app, config, source, logger)
      config = reloaded.config
      logger.info(reloaded.result, 'configuration reloaded')
    } catch (err) {
      const reason = err instanceof ConfigError ? err.message : String(err)
      logger.error({ reason }, `reload failed, still running as before: ${reason}`)
    }
  }
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled rejection')
  })
  process.on('uncaughtException', (err) => {
    // An exception no handler caught means an invariant is broken: exit, systemd restarts.
    fail(logger, 'uncaught exception', err)
  })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  logger.info(
    {
      address: config.address,
      port,
      tls: config.tls,
      tls_mode: config.tls ? 'https and wss' : 'plain http behind a TLS-terminating proxy',
      version: RELAY_VERSION,
      node: process.versions.node,
      broker: config.broker.type,
      uid: ids.uid,
      gid: ids.gid,
      dev: dev !== null,
    },
    'tuleap-realtime listening',
  )
  if (dev) process.stderr.write(devBanner(config, dev, demoPath))
  // systemd (Type=notify): ready only now, listening and unprivileged.
  await notifyReady({
    env: process.env,
    logger,
    status: `listening on ${config.address} port ${port} as uid ${ids.uid}`,
  })
}

async function runCommand(command: Command, args: string[]): Promise<number> {
  const io: Io = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.out(command.usage)
    return EXIT_OK
  }
  try {
    return await command.run(args, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tuleap-realtime: ${command.name}: ${err.message}\n\n${command.usage}`)
      return EXIT_USAGE
    }
    if (err instanceof ConfigError) {
      io.err(`tuleap-realtime: ${command.name}: configuration error: ${err.message}`)
      return EXIT_FAILURE
    }
    io.err(`tuleap-realtime: ${command.name}: ${(err as Error).message}`)
    return EXIT_FAILURE
  }
}

async function main(argv: string[]): Promise<void> {
  const command = COMMANDS.find((c) => c.name === argv[0])
  if (command) process.exit(await runCommand(command, argv.slice(1)))
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    process.stderr.write(`tuleap-realtime: ${(err as Error).message}\n\n${usage()}`)
    process.exit(EXIT_USAGE)
  }
  if (parsed.values.version === true) {
    process.stdout.write(`tuleap-realtime ${RELAY_VERSION} (Node.js ${process.versions.node})\n`)
    return
  }
  if (
    parsed.values.help === true ||
    (parsed.positionals.length === 1 && parsed.positionals[0] === 'help')
  ) {
    process.stdout.write(usage())
    return
  }
  if (parsed.positionals.length > 0) {
    process.stderr.write(
      `tuleap-realtime: unknown command or argument: ${parsed.positionals.join(' ')}\n\n${usage()}`,
    )
    process.exit(EXIT_USAGE)
  }
  await run(parsed.values.config)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`tuleap-realtime: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(EXIT_FAILURE)
})
