#!/usr/bin/env node
import { createOutboxCli } from './cli.js'

createOutboxCli()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    const code = (error as { code?: unknown }).code
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`${typeof code === 'string' ? `${code}: ` : ''}${message}\n`)
    process.exitCode = 1
  })
