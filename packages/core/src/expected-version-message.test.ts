import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

// The compiler's own message, for the mistake the types are shaped to explain: `expectedVersion: 1`.
function diagnosticsOf(code: string): string[] {
  const file = fileURLToPath(new URL('./__expected-version-message.ts', import.meta.url))
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, code, language) : getSourceFile(name, language, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => name === file || fileExists(name)
  const program = ts.createProgram([file], options, host)
  const source = program.getSourceFile(file)
  return ts.getPreEmitDiagnostics(program, source).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}

describe('the compile error for a number as expected version', () => {
  it('names the fix: versions are bigints, write 1n', () => {
    const messages = diagnosticsOf(`
      import type { EventStore } from './event-store.js'
      import type { HandleOptions } from './command-handler.js'
      declare const store: EventStore
      void store.appendToStream('s', [], { expectedVersion: 1 })
      export const options: HandleOptions = { expectedVersion: 2 }
    `)
    expect(messages).toHaveLength(2)
    for (const message of messages) expect(message).toContain('VersionsAreBigints_Write1nNot1')
  }, 30_000)
})
