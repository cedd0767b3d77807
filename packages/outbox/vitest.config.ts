import { annalsProject } from '../../vitest.shared.js'

export default annalsProject('@annals/outbox', { testTimeout: 60_000, typecheckTsconfig: './tsconfig.test.json' })
