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
  MissingPackageError,
  UnreachableError,
  UsageError,
} from './errors.js'
export {
  buildProgram,
  type CliIo,
  type ImportOptional,
  type OptionalModule,
  type ProgramOptions,
  runCli,
} from './program.js'
