// @annals/projections/testing: the suite every read-model sink (Redis, Postgres, Elasticsearch, yours)
// runs to show it keeps the runner's guarantees. Needs vitest.
export {
  type ReadModelSinkFactory,
  type ReadModelSinkHarness,
  readModelSinkContract,
} from './read-model-sink-contract.js'
