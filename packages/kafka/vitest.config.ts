import { annalsProject } from '../../vitest.shared.js'

export default annalsProject('@annals/kafka', { testTimeout: 90_000, hookTimeout: 90_000 })
