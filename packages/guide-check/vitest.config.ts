import { annalsProject } from '../../vitest.shared.js'

// A guide page runs a whole tutorial (migrations, workers, a CLI rebuild) in one test.
export default annalsProject('@annals/guide-check', { testTimeout: 90_000 })
