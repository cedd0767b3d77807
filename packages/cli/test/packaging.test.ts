import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { packedFiles, publishablePackages, WORKSPACE_ROOT } from '@annals/test-support'
import { describe, expect, it } from 'vitest'

const packages = publishablePackages().map((p) => [p.manifest.name, p] as const)

// What a tarball may hold at its top: the build, the sources its source maps point at, the docs.
const ALLOWED_TOP = new Set(['dist', 'src', 'docs', 'README.md', 'LICENSE', 'package.json'])
const TEST_FILE = /(^|\/)(test|tests|__tests__)\/|\.(test|test-d|int\.test|fixture|spec)\.[cm]?[jt]sx?$/

// Clients that the application creates and hands to Annals: one copy each, the application's.
const CLIENT_LIBRARIES = ['pg', 'ioredis', 'kysely', '@elastic/elasticsearch']

describe('published tarballs', () => {
  it('covers every publishable package', () => {
    expect(packages.map(([name]) => name)).toEqual(
      expect.arrayContaining(['@annals/core', '@annals/store-postgres', '@annals/projections', '@annals/cli']),
    )
  })

  it.each(packages)('%s ships its README, its error catalogue and no tests', (_name, { dir }) => {
    const files = packedFiles(dir)
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'docs/errors.md']))
    expect(files.filter((f) => TEST_FILE.test(f))).toEqual([])
    expect(files.filter((f) => !ALLOWED_TOP.has(f.split('/')[0] ?? ''))).toEqual([])
  })

  it.each(packages)('%s takes the application’s database and Redis clients as peers', (_name, { manifest }) => {
    const bundled = Object.keys(manifest.dependencies ?? {}).filter((d) => CLIENT_LIBRARIES.includes(d))
    expect(bundled).toEqual([])
    // Each peer resolves in the workspace too, so the tests run against one copy.
    for (const peer of Object.keys(manifest.peerDependencies ?? {})) {
      expect(manifest.devDependencies ?? {}, `${manifest.name} peer ${peer}`).toHaveProperty([peer])
    }
  })

  it('gives every package the same ioredis range, majors 5 and 6', () => {
    const ranges = new Set(
      packages.flatMap(([, { manifest }]) => {
        const range = manifest.peerDependencies?.ioredis
        return range ? [range] : []
      }),
    )
    expect([...ranges]).toEqual(['^5.0.0 || ^6.0.0'])
  })

  it('leaves @annals/outbox and @annals/sagas optional for the CLI', () => {
    const cli = packages.find(([name]) => name === '@annals/cli')?.[1].manifest
    for (const optional of ['@annals/outbox', '@annals/sagas']) {
      expect(cli?.dependencies ?? {}).not.toHaveProperty([optional])
      expect(cli?.peerDependencies ?? {}).toHaveProperty([optional])
      expect(cli?.peerDependenciesMeta?.[optional]?.optional).toBe(true)
    }
  })
})

/** The relative targets a Markdown file points at: links and images (code blocks left out), and `../` paths in code spans. */
function relativeTargets(markdown: string): string[] {
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
  const targets = [
    ...[...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] ?? ''),
    ...[...prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1] ?? ''),
    ...[...prose.matchAll(/`(\.\.\/[^`\s]+)`/g)].map((m) => m[1] ?? ''),
  ]
  return targets.filter((t) => t !== '' && !/^([a-z][a-z0-9+.-]*:|#)/i.test(t)).map((t) => t.split('#')[0] ?? t)
}

const readmes = [
  join(WORKSPACE_ROOT, 'README.md'),
  ...['packages', 'apps'].flatMap((group) =>
    readdirSync(join(WORKSPACE_ROOT, group))
      .map((entry) => join(WORKSPACE_ROOT, group, entry, 'README.md'))
      .filter((file) => existsSync(file)),
  ),
].map((file) => [relative(WORKSPACE_ROOT, file), file] as const)

describe('README links', () => {
  it('finds the READMEs and their links', () => {
    expect(readmes.map(([name]) => name)).toEqual(expect.arrayContaining(['README.md', 'packages/cli/README.md']))
    expect(
      relativeTargets('[a](docs/errors.md) `../x/y.md` `./cli` [b](https://x.org) [c](#api)\n```\n[d](e.md)\n```'),
    ).toEqual(['docs/errors.md', '../x/y.md'])
  })

  it.each(readmes)('%s points only at files inside the repository', (name, file) => {
    const broken = relativeTargets(readFileSync(file, 'utf8')).filter((target) => {
      const path = target.startsWith('/')
        ? join(WORKSPACE_ROOT, decodeURI(target))
        : resolve(dirname(file), decodeURI(target))
      return !(path === WORKSPACE_ROOT || path.startsWith(WORKSPACE_ROOT + sep)) || !existsSync(path)
    })
    expect(broken, `links of ${name} to a missing file or outside the repository`).toEqual([])
  })
})
