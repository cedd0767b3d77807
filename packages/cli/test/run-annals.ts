import { runCli } from '../src/program.js'

/** What one `annals` run printed and returned. */
export type AnnalsRun = Readonly<{ status: number; stdout: string; stderr: string }>

/**
 * Runs `annals <args>` in this process through {@link runCli}, as the bin does but without tsx's
 * start-up per command. `env` is all the CLI sees; the working directory (this folder) holds no config.
 */
export async function runAnnals(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string = import.meta.dirname,
): Promise<AnnalsRun> {
  let stdout = ''
  let stderr = ''
  const status = await runCli(args, {
    env: { ...env },
    cwd,
    stdout: (text) => {
      stdout += text
    },
    stderr: (text) => {
      stderr += text
    },
    isTTY: false,
  })
  return { status, stdout, stderr }
}
