import { defineProject } from 'vitest/config'

export default defineProject({
  resolve: { conditions: ['@annals/source'] },
  ssr: { resolve: { conditions: ['@annals/source'] } },
  test: {
    name: '@annals/outbox',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts'], tsconfig: './tsconfig.test.json' },
  },
})
