/**
 * @npm-gatekeeper/semantic-release: every npm-gatekeeper gate inside a semantic-release run, which never
 * holds the npm credential. Replaces @semantic-release/npm. Calls the `gatekeeper` CLI (PATH, or GATEKEEPER_BIN).
 *
 * semantic-release runs in a `release` job with no npm token and no `id-token: write`; the gate Action
 * publishes in a separate `publish` job (examples/semantic-release/release.yml):
 *
 *   verifyConditions  refuses to run with an npm credential in the process (NPM_TOKEN, NODE_AUTH_TOKEN,
 *                     ACTIONS_ID_TOKEN_REQUEST_TOKEN, npm_config_*auth*), then gates branch and green-build
 *   verifyRelease     packs with nextRelease.version into a private temp dir and runs every gate but
 *                     `credential` (the publish job's) on that tarball: a block fails the release before
 *                     any tag exists
 *   prepare           writes the version into package.json (`npm version --no-git-tag-version`), then
 *                     re-packs: it must give the verified bytes; if an earlier prepare plugin changed packed
 *                     files, the new tarball is gated again (still before the tag) and replaces the verified one
 *   publish           publishes NOTHING: writes the verified tarball and its integrity into `artifactDir` (for
 *                     `actions/upload-artifact`) and the step outputs version, integrity, dist-tag, name, tarball,
 *                     release-commit (for the publish job); returns false (nothing is on the registry yet)
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

import {
  commonArgs,
  failOnExit,
  integrityOfFile,
  publishSummary,
  runGatekeeper,
  workspaceOf,
} from "./lib/cli.js";
import { GateError, codes } from "./lib/errors.js";

export const EARLY_GATES = ["branch", "green-build"];
/** The release job holds no npm credential: the credential gate runs in the publish job, on the Action. */
export const RELEASE_JOB_SKIPS = ["credential"];
/** Where `publish` writes the verified tarball (relative to the workspace), unless `artifactDir` says otherwise. */
export const ARTIFACT_DIR = "npm-gatekeeper-release";
export const ARTIFACT_TARBALL = "package.tgz";
/**
 * Variables that hand this process a way to publish: an npm token, or the runner's ID-token request
 * (enough for the npm OIDC exchange). Every plugin and config file of the release loads into this process.
 */
export const CREDENTIAL_VARS = ["NPM_TOKEN", "NODE_AUTH_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL"];
const NPM_CONFIG_AUTH = /^npm_config_.*(_auth|_authtoken|_password)$/i;
/**
 * Gates that bind the run to the released commit (`branch`; `commit`: GITHUB_SHA is the branch head and
 * the workspace is GITHUB_SHA). They run in verifyConditions/verifyRelease, before anything is written;
 * after `prepare` wrote package.json they would misfire, so prepare's re-gate leaves them out (the publish
 * job's gate runs them again, and accepts a release commit pushed on top of GITHUB_SHA only in the narrow shape
 * of the `commit.release-files` policy). `--skip-gates` ignores names a CLI lacks.
 */
export const COMMIT_BOUND_GATES = ["branch", "commit"];
const SECRET_VARS = ["NODE_AUTH_TOKEN", "NPM_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN"];

/** Module state, shared by the steps of one run (semantic-release imports a plugin once). */
const state = { tmp: null, verified: null, hooked: false };

function privateDir() {
  if (!state.tmp) {
    state.tmp = mkdtempSync(join(tmpdir(), "gatekeeper-semantic-release-")); // mode 0700
    if (!state.hooked) process.once("exit", cleanup); // also when semantic-release ends without success/fail
    state.hooked = true;
  }
  return state.tmp;
}

export function cleanup() {
  if (state.tmp) rmSync(state.tmp, { recursive: true, force: true });
  state.tmp = null;
  state.verified = null;
}

/** For the unit tests: forget everything between two simulated runs. */
export function _reset() {
  cleanup();
}

/** semantic-release channel -> npm dist-tag, as @semantic-release/npm maps it. */
export function distTag(channel) {
  if (!channel) return "latest";
  return /^[\d.xX*]+$/.test(channel) && /\d/.test(channel) ? `release-${channel}` : channel;
}

function summaryFile(step) {
  return join(privateDir(), `summary-${step}.md`);
}

async function gate(step, args, pluginConfig, context, consequence) {
  const file = summaryFile(step);
  const result = await runGatekeeper([...args, ...commonArgs(pluginConfig, context)], context, {
    summaryFile: file,
  });
  if (result.code !== 0) publishSummary(context, file);
  failOnExit(result, step, consequence);
  if (result.report && result.report.decision !== "allow") {
    // e.g. check mode's "review" (only clearable findings, waiting for a reviewed deployment): the plugin
    // does not hand a tarball that still waits for a review to the publish job.
    publishSummary(context, file);
    throw new GateError(
      `npm-gatekeeper did not allow the release in ${step} (decision: ${result.report.decision}).`,
      codes.blocked,
      consequence +
        " Findings that wait for a review are not handed to the publish job by this plugin: approve them in " +
        "the trusted policy (the last release's), or release with the reviewed workflow of the Action."
    );
  }
  return { result, file };
}

function onlyTarball(dir) {
  const found = readdirSync(dir).filter((f) => f.endsWith(".tgz"));
  if (found.length !== 1) {
    throw new GateError(`Expected exactly one tarball in ${dir}, found ${found.length}.`, codes.state);
  }
  return join(dir, found[0]);
}

/** Adopt the tarball a gate run left in `dir`: its bytes must have the integrity the report shows. */
function adopt(dir, result, context) {
  const path = onlyTarball(dir);
  const integrity = integrityOfFile(path);
  const reported = result.report?.publish?.integrity;
  if (!reported || reported !== integrity) {
    throw new GateError(
      "The tarball the gate verified is not the file it left behind.",
      codes.integrity,
      "Nothing was published and no tag was created. Re-run the release."
    );
  }
  const pkg = result.report?.package || {};
  state.verified = { path, integrity, name: pkg.name, version: pkg.version, registry: registryOf(result) };
  context.logger.log(`npm-gatekeeper: verified ${pkg.name}@${pkg.version} (${integrity})`);
  return state.verified;
}

function registryOf(result) {
  return result.report?.inputs?.registry || null;
}

const BEFORE_TAG = "Nothing was published and no tag was created: fix the cause, then re-run the release.";

/** The credential variables present in this process (or semantic-release's context env): names only. */
export function credentialsInEnv(context) {
  const envs = [process.env, context.env || {}];
  const found = new Set();
  for (const env of envs) {
    for (const name of Object.keys(env)) {
      if (CREDENTIAL_VARS.includes(name) || NPM_CONFIG_AUTH.test(name)) found.add(name);
    }
  }
  return [...found].sort();
}

export async function verifyConditions(pluginConfig, context) {
  const held = credentialsInEnv(context);
  if (held.length) {
    throw new GateError(
      `semantic-release runs with an npm credential in its environment (${held.join(", ")}): refused.`,
      codes.credential,
      [
        "Every semantic-release plugin, the release config and all their dependencies run in this process, so any",
        "of them could publish with that credential, whatever the gate decides. Release in two jobs, as",
        "examples/semantic-release/release.yml does:",
        "",
        "- job `release` (`contents: write`, no `NPM_TOKEN`/`NODE_AUTH_TOKEN`, no `id-token: write`): semantic-release",
        "  with this plugin; it uploads the verified tarball with `actions/upload-artifact`;",
        "- job `publish` (`needs: release`, `environment: npm`, the token or `id-token: write`): `actions/checkout`,",
        "  `actions/download-artifact` and the npm-gatekeeper Action with `tarball:` and `approved-integrity:`, nothing else.",
        "",
        "Remove the variable(s) from the release step's `env:` and the job's permissions. " + BEFORE_TAG,
      ].join("\n")
    );
  }
  await gate("verifyConditions", ["check", "--gates", EARLY_GATES.join(",")], pluginConfig, context, BEFORE_TAG);
}

export async function verifyRelease(pluginConfig, context) {
  const { nextRelease } = context;
  const dir = join(privateDir(), "verified");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  const args = ["check", "--skip-gates", RELEASE_JOB_SKIPS.join(","), "--pack-version", nextRelease.version];
  args.push("--pack-destination", dir);
  args.push("--tag", distTag(nextRelease.channel));
  const { result } = await gate("verifyRelease", args, pluginConfig, context, BEFORE_TAG);
  adopt(dir, result, context);
}

function packDryRun(pluginConfig, context) {
  const cwd = resolve(context.cwd || process.cwd(), pluginConfig.pkgRoot || ".");
  const res = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd,
    env: cleanEnv(context),
    encoding: "utf8",
  });
  if (res.status !== 0) {
    throw new GateError(`\`npm pack --dry-run\` failed in ${cwd}.`, codes.error, res.stderr?.slice(-2000));
  }
  return JSON.parse(res.stdout)[0].integrity;
}

function cleanEnv(context) {
  const env = { ...process.env, ...(context.env || {}) };
  for (const name of SECRET_VARS) delete env[name];
  return env;
}

export async function prepare(pluginConfig, context) {
  const { nextRelease, logger } = context;
  if (!state.verified) {
    throw new GateError(
      "npm-gatekeeper's verifyRelease did not run, so there is no verified tarball to release.",
      codes.state,
      "List `@npm-gatekeeper/semantic-release` in `plugins` (not only in `prepare`/`publish`). " + BEFORE_TAG
    );
  }
  const cwd = resolve(context.cwd || process.cwd(), pluginConfig.pkgRoot || ".");
  logger.log(`Write version ${nextRelease.version} to package.json in ${cwd}`);
  const res = spawnSync(
    "npm",
    ["version", nextRelease.version, "--no-git-tag-version", "--allow-same-version", "--ignore-scripts"],
    { cwd, env: cleanEnv(context), encoding: "utf8" }
  );
  if (res.status !== 0) {
    throw new GateError(`\`npm version ${nextRelease.version}\` failed.`, codes.error, res.stderr?.slice(-2000));
  }
  const now = packDryRun(pluginConfig, context);
  if (now === state.verified.integrity) {
    logger.success("npm-gatekeeper: the prepared package packs to exactly the verified tarball");
    return;
  }
  logger.warn(
    "npm-gatekeeper: the prepared package differs from the verified tarball (an earlier prepare plugin changed " +
      "packed files, e.g. a changelog): gating the new tarball before the tag is created"
  );
  const dir = join(privateDir(), "prepared");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  // The branch gate ran twice already on this commit; the workspace is no longer the released commit.
  const args = ["check", "--skip-gates", [...COMMIT_BOUND_GATES, ...RELEASE_JOB_SKIPS].join(","), "--pack-destination", dir];
  args.push("--tag", distTag(nextRelease.channel));
  const { result } = await gate("prepare", args, pluginConfig, context, BEFORE_TAG);
  if (result.report?.package?.version !== nextRelease.version) {
    throw new GateError(
      `The prepared package has version ${result.report?.package?.version}, not ${nextRelease.version}.`,
      codes.state,
      BEFORE_TAG
    );
  }
  adopt(dir, result, context);
}

/** Append step outputs (`name=value` lines) for the workflow: the release job exposes them to the publish job. */
function setOutputs(context, outputs) {
  const file = context.env?.GITHUB_OUTPUT || process.env.GITHUB_OUTPUT;
  if (!file) return false;
  const lines = Object.entries(outputs).map(([k, v]) => {
    const value = String(v);
    if (/[\r\n]/.test(value)) throw new GateError(`The output ${k} has a line break.`, codes.state);
    return `${k}=${value}\n`;
  });
  appendFileSync(file, lines.join(""));
  return true;
}

export async function publish(pluginConfig, context) {
  const { nextRelease, logger } = context;
  const verified = state.verified;
  const afterTag =
    `The tag ${nextRelease.gitTag} was already pushed, but no verified tarball was handed to the publish job. ` +
    "See 'Recovery' in the plugin README: fix the cause, then publish this version with the gate " +
    "(the tag stays; a re-run of semantic-release sees nothing to release).";
  if (!verified) {
    throw new GateError("npm-gatekeeper has no verified tarball to hand to the publish job.", codes.state, afterTag);
  }
  if (integrityOfFile(verified.path) !== verified.integrity) {
    throw new GateError("The verified tarball changed on disk before it was handed over.", codes.integrity, afterTag);
  }
  try {
    if (packDryRun(pluginConfig, context) !== verified.integrity) {
      logger.warn(
        "npm-gatekeeper: the workspace now packs differently from the verified tarball (a prepare plugin listed " +
          "after this one changed packed files). Handing over the verified tarball: those changes are NOT in it."
      );
    }
  } catch (error) {
    logger.warn(`npm-gatekeeper: could not compare the workspace with the verified tarball (${error.message})`);
  }
  const tag = distTag(nextRelease.channel);
  const ws = workspaceOf(context);
  const rel = pluginConfig.artifactDir || ARTIFACT_DIR;
  const dir = resolve(ws, rel);
  if (relative(ws, dir).startsWith("..") || relative(ws, dir) === "") {
    throw new GateError(`artifactDir ${rel} is not a folder inside the workspace.`, codes.state, afterTag);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out = join(dir, ARTIFACT_TARBALL);
  copyFileSync(verified.path, out);
  if (integrityOfFile(out) !== verified.integrity) {
    throw new GateError("The tarball written for the publish job differs from the verified one.", codes.integrity, afterTag);
  }
  writeFileSync(join(dir, "integrity.txt"), verified.integrity + "\n");
  const outputs = {
    name: verified.name,
    version: nextRelease.version,
    integrity: verified.integrity,
    "dist-tag": tag,
    tarball: relative(ws, out),
  };
  // the commit the tag names: GITHUB_SHA, or the release commit a prepare plugin (@semantic-release/git) pushed on
  // it (semantic-release updates gitHead after each prepare plugin); the publish job accepts exactly this head
  if (/^[0-9a-f]{40}$/.test(String(nextRelease.gitHead || ""))) outputs["release-commit"] = nextRelease.gitHead;
  if (!setOutputs(context, outputs)) {
    logger.warn("npm-gatekeeper: no GITHUB_OUTPUT (not in GitHub Actions): the step outputs were not written");
  }
  logger.success(
    `npm-gatekeeper: handed over ${verified.name}@${nextRelease.version} (${verified.integrity}), written to ` +
      `${relative(ws, out)} for the publish job (dist-tag ${tag}); nothing was published by this job`
  );
  return false; // nothing is on the registry yet: the publish job's gate publishes these bytes
}

export async function success() {
  cleanup();
}

export async function fail() {
  cleanup();
}
