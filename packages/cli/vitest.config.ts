import { annalsProject } from '../../vitest.shared.js'

// Each test spawns several CLI processes (tsx start-up): slow on a loaded machine.
export default annalsProject('@annals/cli', { testTimeout: 180_000 })
