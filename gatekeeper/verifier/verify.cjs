// Verify npm attestation bundles offline, with the Sigstore libraries npm itself uses (@sigstore/bundle,
// @sigstore/verify: the calls `sigstore.verify` makes, without its TUF fetch).
//
//   node verify.cjs <node_modules dir>  < {"attestations": [{"predicateType", "bundle"}, ...]}
//
// Trust: trust/trusted_root.json (Fulcio CAs, Rekor and CT log keys) and trust/npm_keys.json (the
// registry's keys for npm's publish attestations), next to this file; see trust/source.json.
// Per bundle: the certificate chains to a Fulcio CA of the trust root (at the log's integrated time)
// with one SCT, or (publish attestation) the key hint names an npm key valid at that time; one Rekor
// entry whose inclusion proof / promise verifies against the log keys; the DSSE signature over the
// envelope (PAE) by that certificate or key, matching the log entry. Writes one JSON object to stdout:
// {"results": [{"predicateType", "verified", "error", "certificate" (leaf DER, base64), "keyid",
// "payload" (base64, as verified), "payloadType", "integratedTime", "logIndex"}]}. No network.
'use strict';
const fs = require('fs');
const path = require('path');

const modules = process.argv[2];
if (!modules) {
  process.stderr.write('usage: node verify.cjs <node_modules dir>\n');
  process.exit(2);
}
const load = (name) => require(path.join(path.resolve(modules), name));
const { bundleFromJSON } = load('@sigstore/bundle');
const { crypto: sigcrypto } = load('@sigstore/core');
const { TrustedRoot } = load('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = load('@sigstore/verify');

const TRUST = path.join(__dirname, 'trust');
const MAX_INPUT = 4 * 1024 * 1024;

function npmKeyFinder() {
  const doc = JSON.parse(fs.readFileSync(path.join(TRUST, 'npm_keys.json'), 'utf8'));
  const keys = new Map();
  for (const k of doc.keys || []) {
    const pk = k.publicKey || {};
    keys.set(k.keyId, {
      der: Buffer.from(pk.rawBytes || '', 'base64'),
      start: pk.validFor && pk.validFor.start ? Date.parse(pk.validFor.start) : -Infinity,
      end: pk.validFor && pk.validFor.end ? Date.parse(pk.validFor.end) : Infinity,
    });
  }
  return (hint) => {
    const k = keys.get(hint);
    if (!k) {
      const err = new Error(`no npm registry key ${hint} in the trust root`);
      err.code = 'PUBLIC_KEY_ERROR';
      throw err;
    }
    return {
      publicKey: sigcrypto.createPublicKey(k.der, 'spki'),
      // judged at the transparency log's integrated time, as pacote does with the key's expiry
      validFor: (date) => date.getTime() >= k.start && date.getTime() <= k.end,
    };
  };
}

function leafCertificate(json) {
  const vm = json.verificationMaterial || {};
  if (vm.certificate && vm.certificate.rawBytes) return vm.certificate.rawBytes;
  const chain = vm.x509CertificateChain && vm.x509CertificateChain.certificates;
  return chain && chain[0] && chain[0].rawBytes ? chain[0].rawBytes : null;
}

function one(verifier, item) {
  const result = { predicateType: typeof item.predicateType === 'string' ? item.predicateType : null, verified: false };
  try {
    const json = item.bundle;
    const bundle = bundleFromJSON(json); // validates the bundle's shape (media type, required fields)
    if (bundle.content.$case !== 'dsseEnvelope') throw new Error('not a DSSE envelope bundle');
    const entity = toSignedEntity(bundle);
    verifier.verify(entity); // throws VerificationError / PolicyError
    const env = bundle.content.dsseEnvelope;
    const tlog = bundle.verificationMaterial.tlogEntries[0];
    result.verified = true;
    result.payload = Buffer.from(env.payload).toString('base64');
    result.payloadType = env.payloadType;
    result.keyid = bundle.verificationMaterial.content.$case === 'publicKey' ? bundle.verificationMaterial.content.publicKey.hint : null;
    result.certificate = result.keyid ? null : leafCertificate(json);
    result.integratedTime = tlog ? String(tlog.integratedTime) : null;
    result.logIndex = tlog ? String(tlog.logIndex) : null;
  } catch (e) {
    result.error = `${e.code ? e.code + ': ' : ''}${e.message}`.slice(0, 500);
  }
  return result;
}

function main() {
  const chunks = [];
  let size = 0;
  const fd = 0;
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue;
      if (e.code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    size += n;
    if (size > MAX_INPUT) throw new Error('input too large');
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const items = Array.isArray(input.attestations) ? input.attestations : [];
  const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(path.join(TRUST, 'trusted_root.json'), 'utf8')));
  const verifier = new Verifier(toTrustMaterial(root, npmKeyFinder()), { tlogThreshold: 1, ctlogThreshold: 1 });
  const results = items.map((item) => (item && typeof item === 'object' ? one(verifier, item) : { verified: false, error: 'not an object' }));
  process.stdout.write(JSON.stringify({ results }) + '\n');
}

try {
  main();
} catch (e) {
  process.stderr.write(`verify.cjs: ${e.message}\n`);
  process.exit(2);
}
