/**
 * Calling the page's code. Every callback runs through `guard`, which catches what it
 * throws and hands it to the error reporter, so one bad callback cannot break the client
 * or stop delivery to other listeners.
 */

/** Receives what a page callback threw; by default the browser's `reportError`. */
export type CallbackErrorReporter = (error: unknown) => void

/** `reportError` where the platform has it (browsers), else `console.error`. */
export const defaultReporter: CallbackErrorReporter = (error) => {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError
  if (typeof report === 'function') report(error)
  else console.error('tuleap-realtime: a callback threw', error)
}

/** Run `fn`, sending what it throws to `report` (whose own exceptions are swallowed). */
export function guard(report: CallbackErrorReporter, fn: () => void): void {
  try {
    fn()
  } catch (error) {
    try {
      report(error)
    } catch {
      // The reporter failed too; nothing sensible is left to do with the error.
    }
  }
}

/** Typed listeners per event name; `on` returns the function that removes the listener. */
export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(value: never) => void>>()

  constructor(private readonly report: CallbackErrorReporter) {}

  /** Add a listener; returns its off function (idempotent). */
  on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
    }
    // Wrapped so that the same function added twice is two listeners, removed one by one.
    const entry = (value: Events[K]): void => {
      listener(value)
    }
    set.add(entry)
    return () => {
      set.delete(entry)
    }
  }

  /** Call every listener of `event`, in the order they were added, each guarded. */
  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.listeners.get(event)
    if (!set) return
    for (const listener of [...set]) {
      guard(this.report, () => {
        ;(listener as (v: Events[K]) => void)(value)
      })
    }
  }
}
