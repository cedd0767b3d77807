import { defineConfig } from 'vitest/config'

// One project per workspace package; every project resolves sibling packages to their TypeScript
// sources through the "@annals/source" export condition, so tests never need a build step.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
})
