#!/usr/bin/env node
// Refresh the Sigstore trust root the provenance verifier ships (gatekeeper/verifier/trust/).
//
//   node scripts/container/refresh-trust-root.cjs [--online] [--tuf <dir of @sigstore/tuf>]
//
// Without --online: copies the `trusted_root.json` and `registry.npmjs.org/keys.json` TUF targets that
// @sigstore/tuf embeds in its seeds.json (default: the @sigstore/tuf bundled with the npm on PATH,
// `$(npm root -g)/npm/node_modules/@sigstore/tuf`): the trust root npm itself starts from.
// With --online: runs a real TUF update against https://tuf-repo-cdn.sigstore.dev with that
// @sigstore/tuf (root rotation, signatures, expiry checked by the TUF client) and copies the
// fresh targets. Either way writes trust/trusted_root.json, trust/npm_keys.json and trust/source.json
// (where they came from, when, the TUF root's version and expiry): the verifier reports its age.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const args = process.argv.slice(2);
const online = args.includes('--online');
const tufArg = args.indexOf('--tuf');
const tufDir =
  tufArg >= 0
    ? path.resolve(args[tufArg + 1])
    : path.join(execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim(), 'npm', 'node_modules', '@sigstore', 'tuf');
const out = path.join(__dirname, '..', '..', 'gatekeeper', 'verifier', 'trust');
const MIRROR = 'https://tuf-repo-cdn.sigstore.dev';

function npmVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(tufDir, '..', '..', '..', 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

async function main() {
  const tufVersion = JSON.parse(fs.readFileSync(path.join(tufDir, 'package.json'), 'utf8')).version;
  const seeds = JSON.parse(fs.readFileSync(path.join(tufDir, 'seeds.json'), 'utf8'))[MIRROR];
  const root = JSON.parse(Buffer.from(seeds['root.json'], 'base64').toString('utf8'));
  let trustedRoot;
  let keys;
  let tufRoot = { version: root.signed.version, expires: root.signed.expires };
  if (online) {
    const tuf = require(tufDir);
    const cachePath = fs.mkdtempSync(path.join(os.tmpdir(), 'gatekeeper-tuf-'));
    const client = await tuf.initTUF({ mirrorURL: MIRROR, cachePath, forceInit: true });
    trustedRoot = JSON.parse(await client.getTarget('trusted_root.json'));
    keys = JSON.parse(await client.getTarget('registry.npmjs.org/keys.json'));
    const fresh = JSON.parse(fs.readFileSync(path.join(cachePath, 'tuf-repo-cdn.sigstore.dev', 'root.json'), 'utf8'));
    tufRoot = { version: fresh.signed.version, expires: fresh.signed.expires };
    fs.rmSync(cachePath, { recursive: true, force: true });
  } else {
    trustedRoot = JSON.parse(Buffer.from(seeds.targets['trusted_root.json'], 'base64').toString('utf8'));
    keys = JSON.parse(Buffer.from(seeds.targets['registry.npmjs.org%2Fkeys.json'], 'base64').toString('utf8'));
  }
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'trusted_root.json'), JSON.stringify(trustedRoot, null, 2) + '\n');
  fs.writeFileSync(path.join(out, 'npm_keys.json'), JSON.stringify(keys, null, 2) + '\n');
  const source = {
    taken: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    how: online ? `TUF update from ${MIRROR}` : 'the TUF targets embedded in seeds.json',
    sigstore_tuf: tufVersion,
    npm: npmVersion(),
    tuf_root: tufRoot,
  };
  fs.writeFileSync(path.join(out, 'source.json'), JSON.stringify(source, null, 2) + '\n');
  process.stdout.write(JSON.stringify(source) + '\n');
}

main().catch((e) => {
  process.stderr.write(`refresh-trust-root: ${e.message}\n`);
  process.exit(1);
});
