/** What `fn` throws, so a test can assert on the error's class, code and fields; fails the test when nothing is thrown. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}
