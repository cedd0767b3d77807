import { annalsProject } from '../../vitest.shared.js'

export default annalsProject('@annals/store-postgres', { globalSetup: ['./test/global-setup.ts'] })
