/**
 * Running the `gatekeeper` CLI (the same engine as the GitHub Action) and relaying what it says.
 *
 * - The binary: `GATEKEEPER_BIN` (a path) or `gatekeeper` on PATH.
 * - Its text output goes through semantic-release's logger, one line at a time (BLOCK lines as
 *   errors, WARN lines as warnings). Workflow commands (`::add-mask::`, `::error ...`) are written
 *   unprefixed to stdout so the Actions runner still sees them: the mask comes first.
 * - The job summary: the CLI writes into a private file per step; the plugin appends it to
 *   `GITHUB_STEP_SUMMARY` only for the step that decided (a failure, or the publish), so a release
 *   shows one summary, not four.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

import { GateError, codes } from "./errors.js";

/** Where the CLI writes its JSON report, relative to the workspace (same path as the Action). */
export const REPORT_PATH = "node_modules/.cache/npm-gatekeeper/report.json";

export function workspaceOf(context) {
  return resolve(context.env?.GITHUB_WORKSPACE || context.cwd || process.cwd());
}

export function reportPathOf(context) {
  return join(workspaceOf(context), REPORT_PATH);
}

/** The flags every step passes: package, registry, policy, output format, report path. */
export function commonArgs(pluginConfig, context) {
  const args = ["--format", "text", "--report", reportPathOf(context)];
  args.push("--package-path", resolve(context.cwd || process.cwd(), pluginConfig.pkgRoot || "."));
  const map = { registry: "--registry", policy: "--policy", access: "--access", waitForChecks: "--wait-for-checks" };
  for (const [key, flag] of Object.entries(map)) {
    if (pluginConfig[key] !== undefined && pluginConfig[key] !== null && pluginConfig[key] !== "") {
      args.push(flag, String(pluginConfig[key]));
    }
  }
  return args;
}

function relay(line, context) {
  const { logger } = context;
  if (line.startsWith("::")) {
    (context.stdout || process.stdout).write(line + "\n");
  } else if (line.startsWith("BLOCK ")) {
    logger.error(line);
  } else if (line.startsWith("WARN ")) {
    logger.warn(line);
  } else if (line.trim()) {
    logger.log(line);
  }
}

function lineSplitter(onLine) {
  let buffer = "";
  return {
    push(chunk) {
      buffer += chunk;
      let i;
      while ((i = buffer.indexOf("\n")) >= 0) {
        onLine(buffer.slice(0, i).replace(/\r$/, ""));
        buffer = buffer.slice(i + 1);
      }
    },
    end() {
      if (buffer) onLine(buffer);
      buffer = "";
    },
  };
}

/**
 * Run `gatekeeper <args>`; resolves `{code, text, report}` (report: the parsed JSON report or null).
 * `summaryFile`: where the CLI's job summary goes (see the module comment).
 */
export function runGatekeeper(args, context, { summaryFile } = {}) {
  const env = { ...process.env, ...(context.env || {}) };
  const bin = env.GATEKEEPER_BIN || "gatekeeper";
  const reportPath = reportPathOf(context);
  rmSync(reportPath, { force: true }); // never read a previous step's report
  if (env.GITHUB_STEP_SUMMARY && summaryFile) {
    env.GITHUB_STEP_SUMMARY = summaryFile;
    rmSync(summaryFile, { force: true });
  }
  return new Promise((resolvePromise, reject) => {
    const lines = [];
    const onLine = (line) => {
      if (!line.startsWith("::")) lines.push(line);
      relay(line, context);
    };
    const out = lineSplitter(onLine);
    const err = lineSplitter(onLine);
    let child;
    try {
      child = spawn(bin, args, { cwd: context.cwd || process.cwd(), env, stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      reject(missing(bin, error));
      return;
    }
    child.stdout.setEncoding("utf8").on("data", (d) => out.push(d));
    child.stderr.setEncoding("utf8").on("data", (d) => err.push(d));
    child.on("error", (error) => reject(missing(bin, error)));
    child.on("close", (code, signal) => {
      out.end();
      err.end();
      let report = null;
      if (existsSync(reportPath)) {
        try {
          report = JSON.parse(readFileSync(reportPath, "utf8"));
        } catch {
          report = null;
        }
      }
      resolvePromise({ code: code ?? (signal ? 2 : 2), signal, text: lines.join("\n"), report });
    });
  });
}

function missing(bin, error) {
  return new GateError(
    `The gatekeeper CLI could not be started (${bin}: ${error.code || error.message}).`,
    codes.missing,
    "Install the CLI (see the plugin README: a hash-pinned `pip install --require-hashes`) and put " +
      "`gatekeeper` on PATH, or set `GATEKEEPER_BIN` to its path. Nothing was published and no tag was created."
  );
}

/** Append a step's summary file to the job summary (only for the step that decided). */
export function publishSummary(context, summaryFile) {
  const target = context.env?.GITHUB_STEP_SUMMARY || process.env.GITHUB_STEP_SUMMARY;
  if (!target || !summaryFile || !existsSync(summaryFile)) return;
  appendFileSync(target, readFileSync(summaryFile));
}

/** Fail the step on a non-zero exit: 1 = blocked, 2 (or anything else) = could not decide. */
export function failOnExit(result, step, consequence) {
  if (result.code === 0) return;
  const blocking = (result.report?.findings || []).filter((f) => f.severity === "block").map((f) => f.rule);
  const what =
    result.code === 1
      ? `npm-gatekeeper blocked the release in ${step}` +
        (blocking.length ? ` (${[...new Set(blocking)].join(", ")})` : "")
      : `npm-gatekeeper could not decide in ${step}` + (result.report?.error ? `: ${result.report.error}` : "");
  const details = [
    consequence,
    "",
    "What the gate said:",
    "",
    "```",
    result.text.slice(0, 20000),
    "```",
    "",
    `The JSON report: \`${REPORT_PATH}\` in the workspace.`,
  ].join("\n");
  throw new GateError(what + ".", result.code === 1 ? codes.blocked : codes.error, details);
}

export function integrityOfFile(path) {
  return "sha512-" + createHash("sha512").update(readFileSync(path)).digest("base64");
}
