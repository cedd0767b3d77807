import { annalsProject } from '../../vitest.shared.js'

export default annalsProject('@annals/projections')
