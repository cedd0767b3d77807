export { openAppend } from './open-append.js'
export { createTestDatabase, type TestDatabase } from './test-database.js'
export { startThrowawayPostgres, type ThrowawayPostgres } from './throwaway-postgres.js'
