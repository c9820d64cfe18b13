#!/usr/bin/env node
/**
 * The process: argv, config, build app, listen, drop privileges, signals, exit codes.
 * This module alone owns the startup and shutdown order:
 * load config → read TLS files → listen → drop privileges → serve;
 * signal → stop accepting → close sockets with 1001 → close broker → flush logs → exit.
 */
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { pino, type LoggerOptions } from 'pino'
import { buildApp } from './app.js'
import { BrokerStartError } from './broker/create-broker.js'
import { UsageError, type Command, type Io } from './cli/command.js'
import { COMMANDS, usage } from './cli/commands.js'
import {
  ConfigError,
  configWarnings,
  loadConfig,
  type Config,
  type ConfigSource,
} from './config.js'
import { DEMO_PATH, demoPlugin } from './demo/plugin.js'
import { ensureDevSetup, projectRoot, type DevSetup } from './dev-defaults.js'
import { keyInEnvironment } from './key-file.js'
import { createLogger, type Logger } from './log.js'
import { checkCanDrop, dropPrivileges, posixProcess, PrivilegeError } from './privileges.js'
import { reloadRelay } from './reload.js'
import { readTlsFiles } from './tls.js'

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
  process.stderr.write(`tuleap-realtime: ${message}\n`)
  process.exit(EXIT_FAILURE)
}

function devBanner(config: Config, dev: DevSetup): string {
  const base = `https://${config.address}:${config.port}`
  return [
    'tuleap-realtime is running in development mode',
    `  Kanban demo: ${base}${DEMO_PATH} (open it in two tabs, as alice, bob and carol)`,
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

async function shutdown(
  app: FastifyInstance,
  logger: Logger,
  signal: string,
  timeoutMs: number,
): Promise<never> {
  logger.info({ signal }, 'shutting down')
  const force = setTimeout(() => {
    logger.warn(
      { timeout_ms: timeoutMs },
      'connections still open at the shutdown timeout: terminating them',
    )
    for (const conn of app.relay.connections) conn.ws.terminate()
    // HTTP requests still in progress (a slow publish body) would otherwise hold
    // app.close() until their own timeouts, well past shutdown_timeout_ms.
    app.server.closeAllConnections()
    // Last resort, if closing still hangs (e.g. the broker): exit rather than linger.
    setTimeout(() => {
      logger.error({ timeout_ms: timeoutMs }, 'still closing after terminating every connection')
      logger.flush()
      process.exit(EXIT_FAILURE)
    }, timeoutMs)
  }, timeoutMs)
  force.unref()
  try {
    await app.close()
  } catch (err) {
    logger.error({ err }, 'error while closing')
  }
  clearTimeout(force)
  logger.info('stopped')
  logger.flush()
  process.exit(EXIT_OK)
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
    checkCanDrop(config, posixProcess())
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
  if (dev) {
    // Development mode only, never with --config: the Kanban demo and its stand-in backend.
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
    void shutdown(app, logger, signal, config.shutdown_timeout_ms)
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
  logger.info(
    {
      address: config.address,
      port: typeof address === 'object' && address ? address.port : config.port,
      tls: config.tls,
      uid: ids.uid,
      gid: ids.gid,
      dev: dev !== null,
    },
    'tuleap-realtime listening',
  )
  if (dev) process.stderr.write(devBanner(config, dev))
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
      options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    process.stderr.write(`tuleap-realtime: ${(err as Error).message}\n\n${usage()}`)
    process.exit(EXIT_USAGE)
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
