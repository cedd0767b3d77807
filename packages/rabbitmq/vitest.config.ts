import { annalsProject } from '../../vitest.shared.js'

// Worker-process tests slow down a lot on a loaded machine (each child compiles with tsx on start).
export default annalsProject('@annals/rabbitmq', { testTimeout: 120_000, typecheckTsconfig: './tsconfig.test.json' })
