import { defineProject } from 'vitest/config'

export default defineProject({
  resolve: { conditions: ['@annals/source'] },
  ssr: { resolve: { conditions: ['@annals/source'] } },
  test: {
    name: '@annals/sagas',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Worker-process tests slow down a lot on a loaded machine (each child compiles with tsx on start).
    testTimeout: 180_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts'], tsconfig: './tsconfig.typecheck.json' },
  },
})
