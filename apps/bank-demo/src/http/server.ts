import { readFile } from 'node:fs/promises'
import type { EventStore, IdempotencyStore, SnapshotStore } from '@annals/core'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod'
import type { AccountService } from '../accounts/account-service.js'
import { accountRoutes } from '../accounts/routes.js'
import { checkHealth, type HealthCheck } from '../health.js'
import type { AccountsReadModel, BankSearch } from '../read-models/read-model.js'
import { searchRoutes } from '../search/routes.js'
import { transferRoutes } from '../transfers/routes.js'
import type { Transfers } from '../transfers/transfers.js'
import { installErrorHandler, refuseUnstorableText } from './error-handler.js'

/** Everything the HTTP app needs; the composition root (`main.ts`) or a test builds it. */
export type AppDeps = Readonly<{
  store: EventStore
  snapshots: SnapshotStore
  idempotency: IdempotencyStore
  accounts: AccountService
  readModel: AccountsReadModel
  search: BankSearch
  transfers: Transfers
  /** Shown at `GET /health` and on the page, e.g. "postgres+redis+elasticsearch" or "embedded". */
  mode: string
  /** What `GET /health` checks (each bounded by `healthTimeoutMs`); 503 when one fails. Default none. */
  health?: readonly HealthCheck[]
  /** Time one health check may take. Default 2 s. */
  healthTimeoutMs?: number
  /** pino options or `false` (default: false, tests stay quiet). */
  logger?: FastifyServerOptions['logger']
  /** Largest accepted body in bytes. Default 16 KiB: every command fits in far less. */
  bodyLimit?: number
}>

// Both dist/http/server.js and src/http/server.ts sit two levels below the app root.
const PUBLIC = new URL('../../public/', import.meta.url)

const STATIC_FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
}

/** Builds the bank's fastify app (routes, validation, problem+json errors, OpenAPI, the web page). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimit ?? 16 * 1024,
    // Unknown query keys are reported by the strict zod schemas; this keeps the parser bounded.
    routerOptions: { maxParamLength: 200 },
  }).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  installErrorHandler(app)
  refuseUnstorableText(app)

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Annals bank demo',
        description:
          'Accounts, transfers as a saga, balances as of any time, search. Errors are application/problem+json.',
        version: '0.1.0',
      },
      tags: [{ name: 'accounts' }, { name: 'transfers' }, { name: 'time travel' }, { name: 'search' }],
    },
    transform: jsonSchemaTransform,
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  await app.register(
    accountRoutes({ accounts: deps.accounts, readModel: deps.readModel, idempotency: deps.idempotency }),
  )
  await app.register(transferRoutes({ transfers: deps.transfers, idempotency: deps.idempotency }))
  await app.register(searchRoutes({ search: deps.search }))

  // 503 names the failing dependency, so a load balancer stops routing here and an operator sees why.
  app.get('/health', { schema: { hide: true } }, async (_request, reply) => {
    const report = await checkHealth(deps.health ?? [], deps.healthTimeoutMs)
    return reply.code(report.status === 'ok' ? 200 : 503).send({
      status: report.status,
      mode: deps.mode,
      readModel: deps.readModel.kind,
      search: deps.search.kind,
      checks: report.checks,
    })
  })

  for (const [path, file] of Object.entries(STATIC_FILES)) {
    app.get(path, { schema: { hide: true } }, async (_request, reply) => {
      const body = await readFile(new URL(file, PUBLIC), 'utf8')
      const ext = file.split('.').pop() ?? 'html'
      return reply.type(CONTENT_TYPES[ext] ?? 'text/plain').send(body)
    })
  }
  return app
}
