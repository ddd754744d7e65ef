#!/usr/bin/env node
// A stand-in for the `gatekeeper` CLI in the plugin's unit tests only (the pytest suite drives the
// real CLI under real semantic-release). It records its argv and acts out FAKE_GK (JSON):
//   {code, lines: [...], wrongIntegrity, version, publishedIntegrity}
import { createHash } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const args = process.argv.slice(2);
const scenario = JSON.parse(process.env.FAKE_GK || "{}");
appendFileSync(process.env.FAKE_GK_LOG, JSON.stringify({ args, npmToken: process.env.NPM_TOKEN || null }) + "\n");
const flag = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const sri = (data) => "sha512-" + createHash("sha512").update(data).digest("base64");

let integrity = "sha512-none";
const version =
  scenario.version ||
  flag("--pack-version") ||
  JSON.parse(readFileSync(join(flag("--package-path"), "package.json"), "utf8")).version;
if (flag("--pack-destination")) {
  const data = Buffer.from(`tarball of ${version} ${scenario.content || ""}`);
  mkdirSync(flag("--pack-destination"), { recursive: true });
  writeFileSync(join(flag("--pack-destination"), `pkg-${version}.tgz`), data);
  integrity = scenario.wrongIntegrity ? sri("other") : sri(data);
}
if (flag("--tarball")) integrity = scenario.publishedIntegrity || sri(readFileSync(flag("--tarball")));
const code = scenario.code ?? 0;
const report = {
  decision: scenario.decision || (code === 0 ? "allow" : "block"),
  package: { name: "pkg", version },
  findings: code === 1 ? [{ rule: "lifecycle-script-added", severity: "block" }] : [],
  published: args[0] === "publish" && code === 0,
  publish: { integrity },
  error: code === 2 ? "the registry is down" : null,
};
const reportPath = flag("--report");
mkdirSync(dirname(reportPath), { recursive: true });
writeFileSync(reportPath, JSON.stringify(report));
if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, `## summary of ${args[0]}\n`);
for (const line of scenario.lines || []) process.stdout.write(line + "\n");
process.exit(code);
