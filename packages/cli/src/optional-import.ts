/**
 * The modules of the packages `annals` drives only when the project has them installed: they are
 * optional peer dependencies of `@annals/cli`, imported by the commands that need them.
 */
export type OptionalModule = '@annals/outbox' | '@annals/sagas' | '@annals/sagas/postgres' | '@annals/kafka'

/**
 * Imports one of the {@link OptionalModule}s. The CLI's default is Node's `import()`; an embedder or a
 * test may pass another (say, one that fails the way Node does for a package that is not installed).
 */
export type ImportOptional = (specifier: OptionalModule) => Promise<unknown>

/** The default {@link ImportOptional}: the module as the project's `node_modules` resolves it. */
export const importOptional: ImportOptional = (specifier) => {
  // One literal import per module, so that TypeScript checks each and bundlers can see them.
  switch (specifier) {
    case '@annals/outbox':
      return import('@annals/outbox')
    case '@annals/sagas':
      return import('@annals/sagas')
    case '@annals/sagas/postgres':
      return import('@annals/sagas/postgres')
    case '@annals/kafka':
      return import('@annals/kafka')
  }
}
