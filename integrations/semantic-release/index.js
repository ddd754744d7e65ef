/**
 * @npm-gatekeeper/semantic-release: every npm-gatekeeper gate inside a semantic-release run.
 * Replaces @semantic-release/npm. Calls the `gatekeeper` CLI (PATH, or GATEKEEPER_BIN).
 *
 *   verifyConditions  gates branch, green-build, credential (before commits are even analysed)
 *   verifyRelease     packs with nextRelease.version into a private temp dir and runs EVERY gate
 *                     on that tarball (release diff included): a block fails the release before
 *                     any tag exists
 *   prepare           writes the version into package.json (`npm version --no-git-tag-version`,
 *                     as @semantic-release/npm does), then re-packs: it must give the verified
 *                     bytes; if an earlier prepare plugin changed packed files, the new tarball
 *                     is gated again (still before the tag) and replaces the verified one
 *   publish           publishes exactly the tarball verified (and re-verified) before the tag;
 *                     returns {name, url, channel}; channel -> dist-tag
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative, resolve } from "node:path";

import {
  REPORT_PATH,
  commonArgs,
  failOnExit,
  integrityOfFile,
  publishSummary,
  runGatekeeper,
  workspaceOf,
} from "./lib/cli.js";
import { GateError, codes } from "./lib/errors.js";

export const EARLY_GATES = ["branch", "green-build", "credential"];
/**
 * Gates that bind the run to the released commit (`branch`; `commit`: GITHUB_SHA is the branch head and
 * the workspace is GITHUB_SHA). They run in verifyConditions/verifyRelease, before anything is written;
 * after `prepare` wrote package.json (and @semantic-release/git pushed a release commit) they would
 * misfire, so prepare's re-gate and publish leave them out. `--skip-gates` ignores names a CLI lacks.
 */
export const COMMIT_BOUND_GATES = ["branch", "commit"];
const PUBLIC_REGISTRY = "https://registry.npmjs.org/";
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
    // e.g. check mode's "review" (only clearable findings, waiting for a reviewed deployment): a single
    // semantic-release job has no second, reviewed job, so this cannot pass here.
    publishSummary(context, file);
    throw new GateError(
      `npm-gatekeeper did not allow the release in ${step} (decision: ${result.report.decision}).`,
      codes.blocked,
      consequence +
        " Findings that wait for a review cannot be cleared inside one semantic-release job: approve them in " +
        "the trusted policy (the last release's), or release with the two-job reviewed workflow of the Action."
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

export async function verifyConditions(pluginConfig, context) {
  await gate("verifyConditions", ["check", "--gates", EARLY_GATES.join(",")], pluginConfig, context, BEFORE_TAG);
}

export async function verifyRelease(pluginConfig, context) {
  const { nextRelease } = context;
  const dir = join(privateDir(), "verified");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  const args = ["check", "--pack-version", nextRelease.version, "--pack-destination", dir];
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
  const args = ["check", "--skip-gates", COMMIT_BOUND_GATES.join(","), "--pack-destination", dir];
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

export async function publish(pluginConfig, context) {
  const { nextRelease, logger } = context;
  const verified = state.verified;
  const afterTag =
    `The tag ${nextRelease.gitTag} was already pushed, but nothing was published. ` +
    "See 'Recovery' in the plugin README: fix the cause, then publish this version with the gate " +
    "(the tag stays; a re-run of semantic-release sees nothing to release).";
  if (!verified) {
    throw new GateError("npm-gatekeeper has no verified tarball to publish.", codes.state, afterTag);
  }
  if (integrityOfFile(verified.path) !== verified.integrity) {
    throw new GateError("The verified tarball changed on disk before publish.", codes.integrity, afterTag);
  }
  try {
    if (packDryRun(pluginConfig, context) !== verified.integrity) {
      logger.warn(
        "npm-gatekeeper: the workspace now packs differently from the verified tarball (a prepare plugin listed " +
          "after this one changed packed files). Publishing the verified tarball: those changes are NOT in it."
      );
    }
  } catch (error) {
    logger.warn(`npm-gatekeeper: could not compare the workspace with the verified tarball (${error.message})`);
  }
  const tag = distTag(nextRelease.channel);
  // The `tarball` input takes a path inside the workspace: stage the verified file (0600) next to the
  // report, check its bytes once more, and remove it afterwards. The CLI gates and publishes its own
  // copy of exactly these bytes, and the plugin checks the integrity it reports.
  const ws = workspaceOf(context);
  const stageDir = join(ws, REPORT_PATH, "..", "semantic-release");
  mkdirSync(stageDir, { recursive: true, mode: 0o700 });
  const staged = join(stageDir, basename(verified.path));
  rmSync(staged, { force: true });
  copyFileSync(verified.path, staged);
  chmodSync(staged, 0o600);
  let outcome;
  try {
    if (integrityOfFile(staged) !== verified.integrity) {
      throw new GateError("The staged tarball differs from the verified one.", codes.integrity, afterTag);
    }
    const args = ["publish", "--tarball", relative(ws, staged), "--skip-gates", COMMIT_BOUND_GATES.join(","), "--tag", tag];
    outcome = await gate("publish", args, pluginConfig, context, afterTag);
  } finally {
    rmSync(stageDir, { recursive: true, force: true });
  }
  const { result, file } = outcome;
  publishSummary(context, file);
  const report = result.report || {};
  if (report.published !== true || report.publish?.integrity !== verified.integrity) {
    if (report.publish?.dry_run) {
      logger.log("npm-gatekeeper: dry run: nothing was uploaded");
      return false;
    }
    throw new GateError("npm-gatekeeper did not publish the verified tarball.", codes.integrity, afterTag);
  }
  const registry = pluginConfig.registry || PUBLIC_REGISTRY;
  const name = verified.name;
  const url =
    registry.replace(/\/?$/, "/") === PUBLIC_REGISTRY
      ? `https://www.npmjs.com/package/${name}/v/${nextRelease.version}`
      : undefined;
  logger.success(`npm-gatekeeper: published ${name}@${nextRelease.version} on dist-tag ${tag} (${verified.integrity})`);
  return { name: `npm package (@${tag} dist-tag)`, url, channel: tag };
}

export async function success() {
  cleanup();
}

export async function fail() {
  cleanup();
}
