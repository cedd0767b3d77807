import type { SagaStatus } from '@annals/sagas'
import { MissingPackageError } from './errors.js'
import { type ImportOptional, importOptional, type OptionalModule } from './optional-import.js'

// Type-only: erased from the emitted JavaScript, so loading the CLI never loads these packages.
type OptionalModules = {
  '@annals/outbox': typeof import('@annals/outbox')
  '@annals/sagas': typeof import('@annals/sagas')
  '@annals/sagas/postgres': typeof import('@annals/sagas/postgres')
  '@annals/kafka': typeof import('@annals/kafka')
}

/** Loads an optional module for `command` (as typed), or throws {@link MissingPackageError} when its package is not installed. */
export type LoadOptional = <S extends OptionalModule>(specifier: S, command: string) => Promise<OptionalModules[S]>

/** Like {@link LoadOptional}, but resolves to undefined when the package is not installed. */
export type LoadIfInstalled = <S extends OptionalModule>(specifier: S) => Promise<OptionalModules[S] | undefined>

/** The package a module specifier belongs to (`@annals/sagas/postgres` → `@annals/sagas`). */
export function packageOf(specifier: OptionalModule): string {
  return specifier.split('/').slice(0, 2).join('/')
}

/**
 * Whether `error` says that `packageName` itself cannot be found, as Node's ESM loader words it
 * ("Cannot find package 'x' imported from …"). A package that is installed but misses one of its own
 * dependencies fails with the other package's name, and that error is not this one: it must surface as is.
 */
export function isPackageMissing(error: unknown, packageName: string): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { code, message } = error as { code?: unknown; message?: unknown }
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false
  return typeof message === 'string' && (message.includes(`'${packageName}'`) || message.includes(`'${packageName}/`))
}

/** The optional-module loaders of one CLI run, over `importModule` (default: Node's `import()`). */
export function optionalLoaders(importModule: ImportOptional = importOptional): Readonly<{
  load: LoadOptional
  loadIfInstalled: LoadIfInstalled
}> {
  const loadIfInstalled: LoadIfInstalled = async (specifier) => {
    try {
      return (await importModule(specifier)) as OptionalModules[typeof specifier]
    } catch (error) {
      if (isPackageMissing(error, packageOf(specifier))) return undefined
      throw error
    }
  }
  const load: LoadOptional = async (specifier, command) => {
    try {
      return (await importModule(specifier)) as OptionalModules[typeof specifier]
    } catch (error) {
      const packageName = packageOf(specifier)
      if (isPackageMissing(error, packageName)) throw new MissingPackageError(packageName, command, { cause: error })
      throw error
    }
  }
  return { load, loadIfInstalled }
}

/**
 * The saga statuses as `annals sagas list --help` shows them, without loading `@annals/sagas` to
 * build the help. The type keeps each one a status; a unit test holds the list equal to `SAGA_STATUSES`.
 */
export const SAGA_STATUS_HELP = [
  'running',
  'compensating',
  'completed',
  'compensated',
  'failed',
] as const satisfies readonly SagaStatus[]
