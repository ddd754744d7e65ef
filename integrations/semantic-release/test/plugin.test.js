import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
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
    GITHUB_OUTPUT: join(cwd, "..", `output-${Date.now()}-${Math.random()}.txt`),
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
  it("runs the branch and green-build gates in text format and relays the output", async () => {
    const ctx = makeContext({ lines: ["::add-mask::ghs_faketoken0123456789", "npm-gatekeeper: pkg allowed", "WARN  maintainers-unknown: x"] });
    await plugin.verifyConditions({}, ctx);
    const [call] = ctx.calls();
    assert.deepEqual(call.args.slice(0, 5), ["check", "--gates", "branch,green-build", "--format", "text"]);
    assert.equal(call.npmToken, null, "the CLI of the release job gets no npm token");
    assert.equal(call.args[call.args.indexOf("--report") + 1], join(ctx.cwd, "node_modules/.cache/npm-gatekeeper/report.json"));
    assert.equal(call.args[call.args.indexOf("--package-path") + 1], ctx.cwd);
    assert.equal(ctx.stdout.data, "::add-mask::ghs_faketoken0123456789\n"); // unprefixed, for the runner
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

  for (const [name, value] of [
    ["NPM_TOKEN", "npm_faketoken0123456789"],
    ["NODE_AUTH_TOKEN", "npm_faketoken0123456789"],
    ["ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token"],
    ["ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:1/token"],
    ["npm_config_//registry.npmjs.org/:_authToken", "npm_faketoken0123456789"],
    ["NPM_TOKEN", ""], // an empty secret still says this is the old single-job workflow
  ]) {
    it(`refuses to run with ${name}${value ? "" : " (empty)"} in the release process, before calling the CLI`, async () => {
      const ctx = makeContext({}, { [name]: value });
      await assert.rejects(plugin.verifyConditions({}, ctx), (err) => {
        assert.equal(err.code, "EGATEKEEPERCREDENTIAL");
        assert.equal(err.semanticRelease, true);
        assert.ok(err.message.includes(name), err.message);
        assert.match(err.details, /job `publish`/);
        if (value) assert.ok(!err.message.includes(value) && !err.details.includes(value), "the value is never shown");
        return true;
      });
      assert.equal(ctx.calls().length, 0);
    });
  }

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
  it("packs with nextRelease.version into a private dir; publish hands exactly that file to the publish job", async () => {
    const ctx = makeContext();
    ctx.nextRelease.channel = "next";
    await plugin.verifyRelease({}, ctx);
    const verify = ctx.calls()[0].args;
    assert.equal(verify[0], "check");
    assert.equal(verify[verify.indexOf("--skip-gates") + 1], "credential");
    assert.equal(verify[verify.indexOf("--pack-version") + 1], "1.3.0");
    assert.equal(verify[verify.indexOf("--tag") + 1], "next");
    const dir = verify[verify.indexOf("--pack-destination") + 1];
    assert.ok(!dir.startsWith(ctx.cwd), "the private dir is outside the workspace");
    const verified = readFileSync(join(dir, "pkg-1.3.0.tgz"));
    const release = await plugin.publish({}, ctx);
    assert.equal(release, false, "nothing is published by the release job");
    assert.equal(ctx.calls().length, 1, "publish never calls the CLI");
    const out = join(ctx.cwd, "npm-gatekeeper-release", "package.tgz");
    assert.deepEqual(readFileSync(out), verified);
    const integrity = "sha512-" + createHash("sha512").update(verified).digest("base64");
    assert.equal(readFileSync(join(ctx.cwd, "npm-gatekeeper-release", "integrity.txt"), "utf8"), integrity + "\n");
    assert.equal(
      readFileSync(ctx.env.GITHUB_OUTPUT, "utf8"),
      `name=pkg\nversion=1.3.0\nintegrity=${integrity}\ndist-tag=next\ntarball=npm-gatekeeper-release/package.tgz\n`
    );
  });

  it("artifactDir must stay inside the workspace", async () => {
    const ctx = makeContext();
    await plugin.verifyRelease({}, ctx);
    await assert.rejects(plugin.publish({ artifactDir: "../elsewhere" }, ctx), (err) => err.code === "EGATEKEEPERSTATE");
  });

  it("a block in verifyRelease fails before any tag (prepare/publish then refuse)", async () => {
    const ctx = makeContext({ code: 1, lines: ["BLOCK lifecycle-script-added package.json:5: postinstall added"] });
    await assert.rejects(plugin.verifyRelease({}, ctx), (err) => err.code === "EGATEKEEPERBLOCKED" && /lifecycle-script-added/.test(err.message));
    await assert.rejects(plugin.publish({}, ctx), (err) => err.code === "EGATEKEEPERSTATE");
    assert.equal(ctx.calls().length, 1, "publish never called the CLI");
    assert.ok(!existsSync(join(ctx.cwd, "npm-gatekeeper-release")), "nothing handed over");
  });

  it("a check that exits 0 but waits for a review does not pass verifyRelease", async () => {
    const ctx = makeContext({ decision: "review" });
    await assert.rejects(plugin.verifyRelease({}, ctx), (err) => err.code === "EGATEKEEPERBLOCKED" && /decision: review/.test(err.message));
  });

  it("refuses a tarball whose bytes are not what the gate reported", async () => {
    const ctx = makeContext({ wrongIntegrity: true });
    await assert.rejects(plugin.verifyRelease({}, ctx), (err) => err.code === "EGATEKEEPERINTEGRITY");
  });

  it("refuses to hand over a verified tarball that changed on disk", async () => {
    const ctx = makeContext();
    await plugin.verifyRelease({}, ctx);
    const args = ctx.calls()[0].args;
    writeFileSync(join(args[args.indexOf("--pack-destination") + 1], "pkg-1.3.0.tgz"), "other bytes");
    await assert.rejects(plugin.publish({}, ctx), (err) => err.code === "EGATEKEEPERINTEGRITY" && /tag v1.3.0 was already pushed/.test(err.details));
    assert.ok(!existsSync(ctx.env.GITHUB_OUTPUT), "no outputs");
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
    assert.equal(regate[regate.indexOf("--skip-gates") + 1], "branch,commit,credential");
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
