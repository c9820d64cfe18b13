/** Catching the errors the code under test must throw. */

/**
 * The error of class `type` that `fn` throws; throws (failing the test) when `fn` returns,
 * or throws anything else.
 */
export function thrown<E extends Error>(
  type: abstract new (...args: never[]) => E,
  fn: () => unknown,
): E {
  try {
    fn()
  } catch (err) {
    if (err instanceof type) return err
    throw err
  }
  throw new Error(`expected a ${type.name}, nothing was thrown`)
}
