'use strict'
// `npm publish <dir>` for the tests' set-up, without one npm CLI start per publish.
//
// One node process per test process (tests/_support/verdaccio.py `Verdaccio.publish`) loads the npm CLI's
// OWN modules (the npm on PATH: @npmcli/package-json, libnpmpack, libnpmpublish, pacote) once and runs the
// steps of npm's lib/commands/publish.js for each request: the manifest read with `pkgJson.fix` +
// `prepare()`, the tarball packed by libnpmpack (npm-packlist), the "previously published" check, and
// the one PUT libnpmpublish sends. What the registry receives is what `npm publish` sends
// (tests/test_support_verdaccio.py compares the two). Cases this does not model (lifecycle scripts on
// publish, publishConfig beyond `registry` (which --registry overrides), a .npmrc in the package, extra
// CLI args) go to the real CLI on the Python side.
//
// Protocol: one JSON request per line on stdin {id, dir, registry, token, tag, cache};
// one JSON answer per line on the fd named in argv[3] {id, ok, id_, error: {code, message}}.
// Script output cannot reach the answer fd: no scripts run here (ignoreScripts).

const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')

const npmRoot = process.argv[2]
const answerFd = Number(process.argv[3])
const req = (name) => require(path.join(npmRoot, 'node_modules', name))

const pkgJson = req('@npmcli/package-json')
const pack = req('libnpmpack')
const libpub = req('libnpmpublish').publish
const pacote = req('pacote')
const npa = req('npm-package-arg')
const npmFetch = req('npm-registry-fetch')
const semver = req('semver')
const ciInfo = req('ci-info')
const npmVersion = JSON.parse(fs.readFileSync(path.join(npmRoot, 'package.json'), 'utf8')).version

function options (r) {
  // The npm CLI's flatOptions for `npm publish --userconfig <rc> --registry <url> [--tag t]` that pack
  // and publish read (npm.js flatOptions, @npmcli/config definitions).
  const key = '//' + r.registry.replace(/^https?:\/\//, '')
  const ci = ciInfo.name ? `ci/${ciInfo.name.toLowerCase().split(' ').join('-')}` : ''
  return {
    registry: r.registry,
    [`${key}:_authToken`]: r.token,
    cache: path.join(r.cache, '_cacache'),
    defaultTag: r.tag || 'latest',
    tag: r.tag || 'latest',
    access: null,
    provenance: false,
    npmVersion,
    npmCommand: 'publish',
    userAgent: `npm/${npmVersion} node/${process.version} ${process.platform} ${process.arch} workspaces/false ${ci}`.trim(),
    ignoreScripts: true,
    progress: false,
    audit: false,
    fund: false,
  }
}

async function manifestOf (dir) {
  const pkg = await pkgJson.fix(dir, { changes: [] })
  const { content } = await pkg.prepare()
  return content
}

async function registryVersions (spec, opts) {
  try {
    const packument = await pacote.packument(spec, { ...opts, preferOnline: true, _isRoot: true })
    if (typeof packument?.versions === 'undefined') return { versions: [], highestVersion: null }
    const ordered = Object.keys(packument.versions)
      .flatMap(v => {
        const s = new semver.SemVer(v)
        return (s.prerelease.length > 0 || packument.versions[v].deprecated) ? [] : s
      })
      .sort((a, b) => b.compare(a))
    return { versions: ordered.map(v => v.version), highestVersion: ordered.length ? ordered[0].version : null }
  } catch {
    return { versions: [], highestVersion: null }
  }
}

async function publish (r) {
  const opts = options(r)
  const spec = npa(r.dir)
  let manifest = await manifestOf(spec.fetchSpec)
  const tarballData = await pack(spec, { ...opts, foregroundScripts: true, dryRun: true, prefix: r.dir })
  manifest = await manifestOf(spec.fetchSpec)
  const isDefaultTag = !r.tag
  if (Boolean(semver.parse(manifest.version).prerelease.length) && isDefaultTag) {
    throw new Error('You must specify a tag using --tag when publishing a prerelease version.')
  }
  const resolved = npa.resolve(manifest.name, manifest.version)
  npa(`${manifest.name}@${opts.defaultTag}`)
  const { highestVersion, versions } = await registryVersions(resolved, { ...opts, registry: npmFetch.pickRegistry(resolved, opts) })
  if (versions.includes(manifest.version)) {
    throw new Error(`You cannot publish over the previously published versions: ${manifest.version}.`)
  }
  if (highestVersion && semver.gte(highestVersion, manifest.version) && isDefaultTag) {
    throw new Error(`Cannot implicitly apply the "latest" tag because previously published version ${highestVersion} is higher than the new version ${manifest.version}. You must specify a tag using --tag.`)
  }
  await libpub(manifest, tarballData, opts)
  return `${manifest.name}@${manifest.version}`
}

function answer (obj) {
  fs.writeSync(answerFd, JSON.stringify(obj) + '\n')
}

const rl = readline.createInterface({ input: process.stdin })
let queue = Promise.resolve()
rl.on('line', (line) => {
  queue = queue.then(async () => {
    let r
    try {
      r = JSON.parse(line)
      answer({ id: r.id, ok: true, published: await publish(r) })
    } catch (err) {
      answer({ id: r && r.id, ok: false, error: { code: err.code || '', message: String(err.message || err) } })
    }
  })
})
rl.on('close', () => { queue.then(() => process.exit(0)) })
