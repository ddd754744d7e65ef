import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import * as plugin from "../index.js";

const FAKE = join(dirname(fileURLToPath(import.meta.url)), "fake-gatekeeper.mjs");

function makeContext(scenario = {}, extra = {}) {
  const cwd = mkdtempSync(join(tmpdir(), "gk-plugin-test-"));
  writeFileSync(join(cwd, "package.json"), JSON.stringify({ name: "pkg", version: "0.0.0-development" }, null, 2) + "\n");
  writeFileSync(join(cwd, "index.js"), "module.exports = 1;\n");
  const log = join(cwd, "..", `fake-log-${Date.now()}-${Math.random()}.jsonl`);
  const logged = { log: [], error: [], warn: [], success: [] };
  const logger = Object.fromEntries(Object.keys(logged).map((k) => [k, (m) => logged[k].push(m)]));
  const stdout = { data: "", write(s) { this.data += s; } };
  const summary = join(cwd, "..", `summary-${Date.now()}-${Math.random()}.md`);
  writeFileSync(summary, "");
  const env = {
    ...process.env,
    GATEKEEPER_BIN: FAKE,
    FAKE_GK: JSON.stringify(scenario),
    FAKE_GK_LOG: log,
    GITHUB_WORKSPACE: cwd,
    GITHUB_STEP_SUMMARY: summary,
    NPM_TOKEN: "npm_faketoken0123456789",
    ...extra,
  };
  return {
    cwd, env, logger, stdout, logged, summary,
    nextRelease: { version: "1.3.0", gitTag: "v1.3.0", channel: null },
    calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l)) : []),
    setScenario(s) { env.FAKE_GK = JSON.stringify(s); },
  };
}

beforeEach(() => plugin._reset());
afterEach(() => plugin._reset());

describe("distTag", () => {
  it("maps channels like @semantic-release/npm", () => {
    assert.equal(plugin.distTag(null), "latest");
    assert.equal(plugin.distTag(undefined), "latest");
    assert.equal(plugin.distTag("next"), "next");
    assert.equal(plugin.distTag("beta"), "beta");
    assert.equal(plugin.distTag("1.x"), "release-1.x");
    assert.equal(plugin.distTag("2"), "release-2");
  });
});

describe("verifyConditions", () => {
  it("runs the branch, green-build and credential gates in text format and relays the output", async () => {
    const ctx = makeContext({ lines: ["::add-mask::npm_faketoken0123456789", "npm-gatekeeper: pkg allowed", "WARN  maintainers-unknown: x"] });
    await plugin.verifyConditions({}, ctx);
    const [call] = ctx.calls();
    assert.deepEqual(call.args.slice(0, 5), ["check", "--gates", "branch,green-build,credential", "--format", "text"]);
    assert.equal(call.args[call.args.indexOf("--report") + 1], join(ctx.cwd, "node_modules/.cache/npm-gatekeeper/report.json"));
    assert.equal(call.args[call.args.indexOf("--package-path") + 1], ctx.cwd);
    assert.equal(ctx.stdout.data, "::add-mask::npm_faketoken0123456789\n"); // unprefixed, for the runner
    assert.ok(ctx.logged.log.includes("npm-gatekeeper: pkg allowed"));
    assert.deepEqual(ctx.logged.warn, ["WARN  maintainers-unknown: x"]);
    assert.equal(readFileSync(ctx.summary, "utf8"), "", "a passing early step writes no job summary");
  });

  it("fails with a SemanticReleaseError on a block, with the findings and the summary", async () => {
    const ctx = makeContext({ code: 1, lines: ["BLOCK check-failed: `test` concluded `failure`"] });
    await assert.rejects(plugin.verifyConditions({}, ctx), (err) => {
      assert.equal(err.semanticRelease, true);
      assert.equal(err.code, "EGATEKEEPERBLOCKED");
      assert.match(err.message, /verifyConditions/);
      assert.match(err.details, /BLOCK check-failed/);
      assert.match(err.details, /no tag was created/);
      return true;
    });
    assert.deepEqual(ctx.logged.error, ["BLOCK check-failed: `test` concluded `failure`"]);
    assert.equal(readFileSync(ctx.summary, "utf8"), "## summary of check\n");
  });

  it("exit 2 is an error that says the gate could not decide", async () => {
    const ctx = makeContext({ code: 2 });
    await assert.rejects(plugin.verifyConditions({}, ctx), (err) => err.code === "EGATEKEEPERERROR" && /could not decide/.test(err.message) && /registry is down/.test(err.message));
  });

  it("a missing CLI fails with instructions", async () => {
    const ctx = makeContext({}, { GATEKEEPER_BIN: "/nonexistent/gatekeeper" });
    await assert.rejects(plugin.verifyConditions({}, ctx), (err) => err.code === "ENOGATEKEEPER" && /GATEKEEPER_BIN/.test(err.details));
  });

  it("passes plugin options as flags", async () => {
    const ctx = makeContext();
    await plugin.verifyConditions({ registry: "http://127.0.0.1:4873/", policy: "gk.yml", access: "public", waitForChecks: 60 }, ctx);
    const { args } = ctx.calls()[0];
    for (const [f, v] of [["--registry", "http://127.0.0.1:4873/"], ["--policy", "gk.yml"], ["--access", "public"], ["--wait-for-checks", "60"]]) {
      assert.equal(args[args.indexOf(f) + 1], v, f);
    }
  });
});

describe("verifyRelease and publish", () => {
  it("packs with nextRelease.version into a private dir and publishes exactly that file", async () => {
    const ctx = makeContext();
    ctx.nextRelease.channel = "next";
    await plugin.verifyRelease({}, ctx);
    const verify = ctx.calls()[0].args;
    assert.equal(verify[0], "check");
    assert.equal(verify[verify.indexOf("--pack-version") + 1], "1.3.0");
    assert.equal(verify[verify.indexOf("--tag") + 1], "next");
    const dir = verify[verify.indexOf("--pack-destination") + 1];
    assert.ok(!dir.startsWith(ctx.cwd), "the private dir is outside the workspace");
    const release = await plugin.publish({}, ctx);
    const pub = ctx.calls()[1].args;
    assert.equal(pub[0], "publish");
    const given = pub[pub.indexOf("--tarball") + 1];
    assert.equal(given, "node_modules/.cache/npm-gatekeeper/semantic-release/pkg-1.3.0.tgz", "inside the workspace");
    assert.ok(!existsSync(join(ctx.cwd, given)), "the staged copy is removed after publish");
    assert.deepEqual(pub.slice(pub.indexOf("--skip-gates"), pub.indexOf("--skip-gates") + 2), ["--skip-gates", "branch,commit"]);
    assert.equal(pub[pub.indexOf("--tag") + 1], "next");
    assert.deepEqual(release, {
      name: "npm package (@next dist-tag)",
      url: "https://www.npmjs.com/package/pkg/v/1.3.0",
      channel: "next",
    });
    assert.match(readFileSync(ctx.summary, "utf8"), /summary of publish/);
  });

  it("a block in verifyRelease fails before any tag (prepare/publish then refuse)", async () => {
    const ctx = makeContext({ code: 1, lines: ["BLOCK lifecycle-script-added package.json:5: postinstall added"] });
    await assert.rejects(plugin.verifyRelease({}, ctx), (err) => err.code === "EGATEKEEPERBLOCKED" && /lifecycle-script-added/.test(err.message));
    await assert.rejects(plugin.publish({}, ctx), (err) => err.code === "EGATEKEEPERSTATE");
    assert.equal(ctx.calls().length, 1, "publish never called the CLI");
  });

  it("a check that exits 0 but waits for a review does not pass verifyRelease", async () => {
    const ctx = makeContext({ decision: "review" });
    await assert.rejects(plugin.verifyRelease({}, ctx), (err) => err.code === "EGATEKEEPERBLOCKED" && /decision: review/.test(err.message));
  });

  it("refuses a tarball whose bytes are not what the gate reported", async () => {
    const ctx = makeContext({ wrongIntegrity: true });
    await assert.rejects(plugin.verifyRelease({}, ctx), (err) => err.code === "EGATEKEEPERINTEGRITY");
  });

  it("fails publish if the CLI reports another integrity than the verified one", async () => {
    const ctx = makeContext();
    await plugin.verifyRelease({}, ctx);
    ctx.setScenario({ publishedIntegrity: "sha512-something-else" });
    await assert.rejects(plugin.publish({}, ctx), (err) => err.code === "EGATEKEEPERINTEGRITY" && /tag v1.3.0 was already pushed/.test(err.details));
  });

  it("a private registry gives no npmjs.com url", async () => {
    const ctx = makeContext();
    await plugin.verifyRelease({}, ctx);
    const release = await plugin.publish({ registry: "http://127.0.0.1:4873/" }, ctx);
    assert.equal(release.url, undefined);
    assert.equal(release.channel, "latest");
  });
});

describe("prepare", () => {
  it("writes the version with npm version and re-gates when packed files changed before it", async () => {
    const ctx = makeContext();
    await plugin.verifyRelease({}, ctx); // the fake's tarball never equals npm's pack: a "changed" package
    await plugin.prepare({}, ctx);
    assert.equal(JSON.parse(readFileSync(join(ctx.cwd, "package.json"), "utf8")).version, "1.3.0");
    const regate = ctx.calls()[1].args;
    assert.equal(regate[0], "check");
    assert.equal(regate[regate.indexOf("--skip-gates") + 1], "branch,commit");
    assert.ok(!regate.includes("--pack-version"), "the prepared workspace is packed as it is");
    assert.ok(ctx.logged.warn.some((m) => /differs from the verified tarball/.test(m)));
  });

  it("keeps the verified tarball when the prepared package packs to the same bytes", async () => {
    const ctx = makeContext();
    // a gate stand-in that really packs: the verified tarball is npm's own pack of the version
    const real = join(ctx.cwd, "..", `real-gk-${Date.now()}.mjs`);
    writeFileSync(real, `#!/usr/bin/env node
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, dirname } from "node:path";
import { tmpdir } from "node:os";
const a = process.argv.slice(2); const f = (n) => a[a.indexOf(n) + 1];
const stage = mkdtempSync(join(tmpdir(), "stage-"));
cpSync(f("--package-path"), stage, { recursive: true });
execFileSync("npm", ["version", f("--pack-version"), "--no-git-tag-version", "--allow-same-version", "--ignore-scripts"], { cwd: stage });
const out = JSON.parse(execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", f("--pack-destination")], { cwd: stage }));
const data = readFileSync(join(f("--pack-destination"), out[0].filename));
mkdirSync(dirname(f("--report")), { recursive: true });
writeFileSync(f("--report"), JSON.stringify({ decision: "allow", package: { name: "pkg", version: f("--pack-version") }, publish: { integrity: "sha512-" + createHash("sha512").update(data).digest("base64") } }));
`);
    execFileSync("chmod", ["+x", real]);
    ctx.env.GATEKEEPER_BIN = real;
    await plugin.verifyRelease({}, ctx);
    await plugin.prepare({}, ctx);
    assert.ok(ctx.logged.success.some((m) => /packs to exactly the verified tarball/.test(m)), JSON.stringify(ctx.logged));
    assert.deepEqual(ctx.logged.warn, []);
  });

  it("refuses to run without a verified tarball", async () => {
    const ctx = makeContext();
    await assert.rejects(plugin.prepare({}, ctx), (err) => err.code === "EGATEKEEPERSTATE");
  });
});

describe("cleanup", () => {
  it("success and fail remove the private temp dir", async () => {
    const ctx = makeContext();
    await plugin.verifyRelease({}, ctx);
    const args = ctx.calls()[0].args;
    const dir = dirname(args[args.indexOf("--pack-destination") + 1]);
    assert.ok(existsSync(dir));
    await plugin.success({}, ctx);
    assert.ok(!existsSync(dir));
  });
});
