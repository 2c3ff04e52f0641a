#!/usr/bin/env node
// verify_standardwebhooks: checks the signatures of recorded webhook requests with the npm
// `standardwebhooks` package (the specification's own JavaScript library, not driftwatch code).
//
//   node verify_standardwebhooks.js --log requests.jsonl --secret-file FILE
//        [--secret whsec_...] [--path /ok]... [--at-own-time MSG_ID]... [--expect N]
//
// Reads the JSON-lines log of webhook_receiver.py and, for every request carrying a
// webhook-id (only those to the given --path values, when any), prints
// `ok - signature of ID to PATH verifies` or `not ok - ...` with the library's reason.
// The library rejects timestamps more than five minutes from now; a request whose id is named
// by --at-own-time (the specification's published test vector, dated 2021) is verified with
// the clock set to its own timestamp. Also checks that the library rejects a tampered body, and
// that it reproduces the published test vector itself. Exits 1 if anything failed.
"use strict";

const fs = require("fs");
const path = require("path");
const { Webhook } = require(path.join(__dirname, "node_modules", "standardwebhooks"));

const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  payload: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

function parseArgs(argv) {
  const a = { paths: [], ownTime: new Set(), expect: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${k} needs a value`);
    i++;
    if (k === "--log") a.log = v;
    else if (k === "--secret-file") a.secret = fs.readFileSync(v, "utf8").replace(/\s+$/, "");
    else if (k === "--secret") a.secret = v;
    else if (k === "--path") a.paths.push(v);
    else if (k === "--at-own-time") a.ownTime.add(v);
    else if (k === "--expect") a.expect = parseInt(v, 10);
    else throw new Error(`unknown option ${k}`);
  }
  if (!a.log || !a.secret) throw new Error("--log and --secret-file (or --secret) are required");
  return a;
}

let failures = 0;
function report(pass, name, why) {
  console.log(`${pass ? "ok" : "not ok"} - ${name}`);
  if (!pass) {
    failures++;
    if (why) console.log(`#   ${why}`);
  }
}

// Runs fn with Date.now() answering atSeconds, so an old, genuine message can be verified.
function atTime(atSeconds, fn) {
  const realNow = Date.now;
  Date.now = () => atSeconds * 1000;
  try {
    return fn();
  } finally {
    Date.now = realNow;
  }
}

function tryVerify(wh, body, headers, atSeconds) {
  try {
    const run = () => wh.verify(body, headers);
    if (atSeconds !== null) atTime(atSeconds, run);
    else run();
    return null;
  } catch (e) {
    return e.message || String(e);
  }
}

function main() {
  const args = parseArgs(process.argv.slice(2));

  // The library against the specification's own example, before trusting it with ours.
  const vh = new Webhook(VECTOR.secret);
  const vsig = vh.sign(VECTOR.id, new Date(VECTOR.timestamp * 1000), VECTOR.payload);
  report(vsig === VECTOR.signature, "standardwebhooks reproduces the published test vector",
    `got ${vsig}`);

  const wh = new Webhook(args.secret);
  const lines = fs.readFileSync(args.log, "utf8").split("\n").filter((l) => l.trim() !== "");
  let checked = 0;
  let tamperChecked = false;
  for (const line of lines) {
    const rec = JSON.parse(line);
    const id = rec.headers["webhook-id"];
    if (!id) continue;
    const p = rec.path.split("?")[0];
    if (args.paths.length && !args.paths.includes(p)) continue;
    checked++;
    const at = args.ownTime.has(id) ? parseInt(rec.headers["webhook-timestamp"], 10) : null;
    const why = tryVerify(wh, rec.body, rec.headers, at);
    report(why === null, `signature of ${id} to ${p} verifies`, why);
    if (why === null && !tamperChecked) {
      tamperChecked = true;
      const bad = tryVerify(wh, rec.body + " ", rec.headers, at);
      report(bad !== null, `a tampered body of ${id} is rejected`, "the library accepted it");
    }
  }
  if (args.expect !== null)
    report(checked === args.expect, `${args.expect} signed requests were recorded`,
      `found ${checked}`);
  else
    report(checked > 0, "at least one signed request was recorded", "found none");
  return failures ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (e) {
  console.log(`not ok - verify_standardwebhooks: ${e.message}`);
  process.exitCode = 1;
}
