import { type ChildProcess, spawn } from 'node:child_process'

// Resolved here, once: `--import tsx` would otherwise resolve from the child's working directory.
const tsxLoader = import.meta.resolve('tsx')

/** A TypeScript file running in a child Node process, with its output collected. */
export type SpawnedProcess = Readonly<{
  child: ChildProcess
  pid: number
  /** Complete stdout lines so far (the array grows while the process runs). */
  lines: string[]
  /** Everything written to stdout and stderr so far. */
  output(): string
  stdout(): string
  stderr(): string
  /** Resolves with the exit code and signal when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGKILLs the process (no-op when it ended) and waits for it. */
  kill(): Promise<void>
}>

/** Options of {@link spawnTs}. */
export type SpawnTsOptions = Readonly<{
  args?: readonly string[]
  env?: Record<string, string | undefined>
  cwd?: string
}>

const alive = new Set<SpawnedProcess>()

/**
 * Runs a TypeScript file in a child Node process the way the workspace runs sources (the
 * `@annals/source` condition and tsx), so tests can crash, kill and restart real workers.
 */
export function spawnTs(file: string, options: SpawnTsOptions = {}): SpawnedProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=@annals/source', '--import', tsxLoader, file, ...(options.args ?? [])],
    {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const lines: string[] = []
  let out = ''
  let err = ''
  let partial = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString()
    out += text
    partial += text
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString()
    // A chatty worker that runs for minutes must not grow the test's memory without bound.
    if (err.length > 200_000) err = err.slice(-100_000)
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      alive.delete(spawned)
      resolve({ code, signal })
    })
  })
  const spawned: SpawnedProcess = {
    child,
    pid: child.pid ?? -1,
    lines,
    output: () => out + err,
    stdout: () => out,
    stderr: () => err,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
  alive.add(spawned)
  return spawned
}

/** Runs a TypeScript file to completion and returns its status and output (killed after `timeoutMs`). */
export async function runTs(
  file: string,
  options: SpawnTsOptions & Readonly<{ timeoutMs?: number }> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const spawned = spawnTs(file, options)
  const timer = setTimeout(() => void spawned.kill(), options.timeoutMs ?? 60_000)
  const { code } = await spawned.exited
  clearTimeout(timer)
  return { status: code, stdout: spawned.stdout(), stderr: spawned.stderr() }
}

/** SIGKILLs every process {@link spawnTs} started that is still alive (a suite's cleanup). */
export async function killAllSpawned(): Promise<void> {
  await Promise.all([...alive].map((p) => p.kill()))
}
