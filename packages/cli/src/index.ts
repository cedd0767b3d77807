export {
  type AnnalsConfig,
  type AnnalsConfigContext,
  type AnnalsConfigExport,
  CONFIG_FILES,
  defineConfig,
  findConfigFile,
  loadConfig,
} from './config.js'
export {
  type CliErrorCode,
  CliErrorCodes,
  CliNotMigratedError,
  ConfigInvalidError,
  ConfigNotFoundError,
  MissingEnvError,
  UnreachableError,
  UsageError,
} from './errors.js'
export { buildProgram, type CliIo, runCli } from './program.js'
