import { Client, SniffingTransport } from '@elastic/elasticsearch'
import { InvalidElasticsearchOptionError } from './errors.js'

type TransportOptions = ConstructorParameters<typeof SniffingTransport>[0]
// The ESM typings of @elastic/elasticsearch 9 do not export ClientOptions; derive it from the constructor.
type ClientOptions = NonNullable<ConstructorParameters<typeof Client>[0]>

/**
 * A transport that lets the Elasticsearch v9 client talk to OpenSearch 2.x: it turns off the product
 * check (OpenSearch never sends `x-elastic-product`) and sends plain JSON media types (OpenSearch answers
 * 406 to `application/vnd.elasticsearch+json; compatible-with=9`). Requests and answers are otherwise
 * exactly what the stock client sends.
 * @example
 * const client = new Client({ node: 'http://127.0.0.1:9200', Transport: OpenSearchCompatTransport })
 */
export class OpenSearchCompatTransport extends SniffingTransport {
  constructor(options: TransportOptions) {
    super({
      ...options,
      productCheck: undefined,
      vendoredHeaders: {
        jsonContentType: 'application/json',
        ndjsonContentType: 'application/x-ndjson',
        accept: 'application/json, text/plain',
      },
    })
  }
}

/**
 * A transport for the v9 client against an Elasticsearch 8.x node: the v9 client asks for
 * `compatible-with=9`, which 8.x refuses; this asks for `compatible-with=8` (the product check stays on).
 */
export class Elasticsearch8CompatTransport extends SniffingTransport {
  constructor(options: TransportOptions) {
    super({
      ...options,
      vendoredHeaders: {
        jsonContentType: 'application/vnd.elasticsearch+json; compatible-with=8',
        ndjsonContentType: 'application/vnd.elasticsearch+x-ndjson; compatible-with=8',
        accept: 'application/vnd.elasticsearch+json; compatible-with=8, text/plain',
      },
    })
  }
}

/** Which engine a node runs, as its root endpoint says. */
export type SearchEngineKind = 'elasticsearch' | 'opensearch'

/**
 * Creates an `@elastic/elasticsearch` client for an OpenSearch 2.x node (see {@link OpenSearchCompatTransport}).
 * @example
 * const client = createOpenSearchCompatibleClient('http://127.0.0.1:9200')
 */
export function createOpenSearchCompatibleClient(
  node: string,
  options: Omit<ClientOptions, 'node' | 'Transport'> = {},
): Client {
  return new Client({ ...options, node, Transport: OpenSearchCompatTransport })
}

/**
 * Asks a node which engine it runs (`GET /` without the client, so no product check gets in the way).
 * OpenSearch says `version.distribution: "opensearch"`; Elasticsearch has no distribution field.
 */
export async function detectSearchEngine(
  node: string,
  init: { headers?: Record<string, string> } = {},
): Promise<SearchEngineKind> {
  return (await probe(node, init)).kind
}

async function probe(
  node: string,
  init: { headers?: Record<string, string> },
): Promise<{ kind: SearchEngineKind; major: number }> {
  const response = await fetch(new URL('/', node), { headers: { accept: 'application/json', ...init.headers } })
  if (!response.ok) throw new Error(`GET ${node} answered HTTP ${response.status}`)
  const body = (await response.json()) as { version?: { distribution?: string; number?: string } }
  const major = Number((body.version?.number ?? '0').split('.')[0])
  return { kind: body.version?.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch', major }
}

function headersOf(options: Omit<ClientOptions, 'node' | 'Transport'>): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(options.headers ?? {})) if (typeof v === 'string') headers[k] = v
  const auth = options.auth as
    | { username?: string; password?: string; apiKey?: string | { id: string; api_key: string } }
    | undefined
  if (auth?.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`
  } else if (typeof auth?.apiKey === 'string') headers.authorization = `ApiKey ${auth.apiKey}`
  else if (auth?.apiKey)
    headers.authorization = `ApiKey ${Buffer.from(`${auth.apiKey.id}:${auth.apiKey.api_key}`).toString('base64')}`
  return headers
}

/** Options of {@link connectSearchEngine}. */
export type ConnectSearchEngineOptions = Omit<ClientOptions, 'node' | 'Transport'> &
  Readonly<{
    /** `auto` (default) asks the node; `elasticsearch` uses the stock client; `opensearch` the compat transport. */
    engine?: SearchEngineKind | 'auto'
  }>

/**
 * Creates a client that works with whatever engine answers at `node` (auto mode asks `GET /`, sending the
 * client's `auth` and `headers`): the stock client for Elasticsearch 9, `compatible-with=8` media types for
 * Elasticsearch 8, the compat transport for OpenSearch 2.x.
 * @example
 * const client = await connectSearchEngine(process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200')
 */
export async function connectSearchEngine(node: string, options: ConnectSearchEngineOptions = {}): Promise<Client> {
  const { engine = 'auto', ...clientOptions } = options
  if (engine !== 'auto' && engine !== 'elasticsearch' && engine !== 'opensearch') {
    throw new InvalidElasticsearchOptionError(
      'engine',
      `expected auto, elasticsearch or opensearch (got ${String(engine)})`,
    )
  }
  const found =
    engine === 'auto' ? await probe(node, { headers: headersOf(clientOptions) }) : { kind: engine, major: 0 }
  if (found.kind === 'opensearch') return createOpenSearchCompatibleClient(node, clientOptions)
  if (found.major === 8) return new Client({ ...clientOptions, node, Transport: Elasticsearch8CompatTransport })
  return new Client({ ...clientOptions, node })
}
