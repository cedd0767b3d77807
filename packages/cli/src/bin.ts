#!/usr/bin/env node
import { runCli } from './program.js'

const status = await runCli(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: process.stderr.isTTY === true,
})
// Config modules may hold their own clients open: exit explicitly once the command is done.
process.exit(status)
