import { defineProject } from 'vitest/config'

export default defineProject({
  resolve: { conditions: ['@annals/source'] },
  ssr: { resolve: { conditions: ['@annals/source'] } },
  test: {
    name: '@annals/cli',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Each test spawns several CLI processes (tsx start-up): slow on a loaded machine.
    testTimeout: 180_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts'], tsconfig: '../../tsconfig.test.json' },
  },
})
