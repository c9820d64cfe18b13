/**
 * Where the demo board's positions survive a restart of the relay, as Tuleap's database
 * would: one small JSON file in development mode's folder. The file is opened once, when
 * the plugin is registered (as root, before privileges are dropped), and written through
 * that descriptor afterwards.
 */
import {
  closeSync,
  constants,
  ftruncateSync,
  fstatSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs'
import { validPositions, type Positions } from './board.js'

/** What the store needs to report. */
export interface StoreLogger {
  warn(obj: object, msg: string): void
}

/** A JSON file holding the positions; without a file (or when it fails), nothing persists. */
export class BoardStore {
  private fd: number | null = null

  /** Open (creating it, mode 0600) `file`; null keeps the board in memory only. */
  constructor(
    file: string | null,
    private readonly log: StoreLogger,
  ) {
    if (file === null) return
    try {
      // O_NOFOLLOW: never write through a symbolic link planted in the folder.
      this.fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600)
    } catch (err) {
      log.warn({ err, file }, 'demo: cannot open the board file; the board is kept in memory')
    }
  }

  /** The saved positions, or null when there are none or they do not fit the demo's cards. */
  load(): Positions | null {
    if (this.fd === null || fstatSync(this.fd).size === 0) return null
    try {
      const value: unknown = JSON.parse(readFileSync(this.fd, 'utf8'))
      return validPositions(value) ? value : null
    } catch {
      return null
    }
  }

  /** Replace the saved positions. */
  save(positions: Positions): void {
    if (this.fd === null) return
    try {
      const text = `${JSON.stringify(positions)}\n`
      ftruncateSync(this.fd, 0)
      writeSync(this.fd, text, 0)
    } catch (err) {
      this.log.warn({ err }, 'demo: cannot save the board')
    }
  }

  /** Close the file. Idempotent. */
  close(): void {
    if (this.fd === null) return
    closeSync(this.fd)
    this.fd = null
  }
}
