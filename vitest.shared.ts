import { defineProject, type UserWorkspaceConfig } from 'vitest/config'

/** What a workspace package may change about the shared test setup. */
export type ProjectOptions = Readonly<{
  /** Per-test timeout. Default 30 s; packages that spawn worker processes need more on a loaded machine. */
  testTimeout?: number
  /** Default 60 s (database creation, engine start-up). */
  hookTimeout?: number
  /** The tsconfig that type-checks `*.test-d.ts`, relative to the package. Default the workspace's. */
  typecheckTsconfig?: string
  globalSetup?: string[]
}>

/**
 * The vitest project of one workspace package: sibling packages resolve to their TypeScript sources
 * (the `@annals/source` condition, so tests never need a build), unit and integration tests from
 * `src/` and `test/`, type tests from `*.test-d.ts`.
 * @example export default annalsProject('@annals/sagas', { testTimeout: 180_000 })
 */
export function annalsProject(name: string, options: ProjectOptions = {}): UserWorkspaceConfig {
  return defineProject({
    resolve: { conditions: ['@annals/source'] },
    ssr: { resolve: { conditions: ['@annals/source'] } },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      ...(options.globalSetup ? { globalSetup: options.globalSetup } : {}),
      testTimeout: options.testTimeout ?? 30_000,
      hookTimeout: options.hookTimeout ?? 60_000,
      typecheck: {
        enabled: true,
        include: ['src/**/*.test-d.ts'],
        tsconfig: options.typecheckTsconfig ?? '../../tsconfig.test.json',
      },
    },
  })
}
