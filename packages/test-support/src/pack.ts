import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/** The root of the workspace (the folder of `pnpm-workspace.yaml`). */
export const WORKSPACE_ROOT = resolve(import.meta.dirname, '../../..')

/** The fields of a package manifest the packaging tests read. */
export type Manifest = Readonly<{
  name: string
  private?: boolean
  dependencies?: Readonly<Record<string, string>>
  devDependencies?: Readonly<Record<string, string>>
  peerDependencies?: Readonly<Record<string, string>>
  peerDependenciesMeta?: Readonly<Record<string, Readonly<{ optional?: boolean }>>>
}>

/** A workspace package that is published (not `private`): its folder and manifest. */
export type PublishablePackage = Readonly<{ dir: string; manifest: Manifest }>

/** The publishable packages under `packages/`, by folder name. */
export function publishablePackages(): PublishablePackage[] {
  const found: PublishablePackage[] = []
  for (const entry of readdirSync(join(WORKSPACE_ROOT, 'packages')).sort()) {
    const dir = join(WORKSPACE_ROOT, 'packages', entry)
    if (!existsSync(join(dir, 'package.json'))) continue
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest
    if (!manifest.private) found.push({ dir, manifest })
  }
  return found
}

/** The paths (relative to the package) of the files `pnpm pack` puts in the package's tarball. */
export function packedFiles(dir: string): string[] {
  const out = execFileSync('pnpm', ['pack', '--dry-run', '--json'], { cwd: dir, encoding: 'utf8' })
  return (JSON.parse(out) as { files: { path: string }[] }).files.map((f) => f.path).sort()
}

/**
 * Packs the package in `dir` with `pnpm pack` (its `files`, `workspace:` ranges replaced) and unpacks
 * the tarball into `nodeModules/<name>`, the way an install would lay it out. Resolves to that folder.
 */
export function installPacked(dir: string, nodeModules: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest
  const target = join(nodeModules, manifest.name)
  mkdirSync(target, { recursive: true })
  const tarball = join(nodeModules, '.tarballs', `${manifest.name.replace('/', '+')}.tgz`)
  mkdirSync(dirname(tarball), { recursive: true })
  execFileSync('pnpm', ['pack', '--out', tarball], { cwd: dir, stdio: 'ignore' })
  execFileSync('tar', ['xzf', tarball, '-C', target, '--strip-components=1'])
  return target
}

/**
 * Links `name` into `nodeModules` from where the workspace package in `fromDir` resolves it (pnpm's
 * store), so a packed package finds its third-party dependencies without a registry. A no-op when linked.
 */
export function linkDependency(name: string, fromDir: string, nodeModules: string): void {
  const link = join(nodeModules, name)
  if (existsSync(link)) return
  mkdirSync(dirname(link), { recursive: true })
  symlinkSync(realpathSync(join(fromDir, 'node_modules', name)), link, 'dir')
}
