import { annalsProject } from '../../vitest.shared.js'

export default annalsProject('@annals/core', { typecheckTsconfig: './tsconfig.test.json' })
