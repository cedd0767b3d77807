import { annalsProject } from '../../vitest.shared.js'

export default annalsProject('@annals/checkout-example', { testTimeout: 60_000 })
