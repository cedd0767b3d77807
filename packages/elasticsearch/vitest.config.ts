import { annalsProject } from '../../vitest.shared.js'

export default annalsProject('@annals/elasticsearch', { testTimeout: 60_000, hookTimeout: 120_000 })
