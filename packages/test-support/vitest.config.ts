import { defineProject } from 'vitest/config'

export default defineProject({
  test: { name: '@annals/test-support', include: ['src/**/*.test.ts'] },
})
