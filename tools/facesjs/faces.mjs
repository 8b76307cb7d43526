// Deterministic facesjs cartoon faces for the stylegan-rs demo data set.
//
//   node faces.mjs --count N [--seed S] [--start I] [--out FILE]
//
// Writes one JSON object per line, `{"index": i, "svg": "<svg ...>", "face": {...}}`, to FILE
// (atomically: FILE.tmp then rename) or to stdout. Face i is drawn from its own PRNG stream,
// seeded from (S, i), so the same seed always gives the same faces and a larger --count only
// appends faces. facesjs draws everything from Math.random; it is replaced by mulberry32 while a
// face is generated. The gender (facesjs takes it as an option, default "male") is drawn
// 50/50 from the same stream.

import fs from "node:fs";
import { generate, faceToSvgString } from "facesjs";

function usage(msg) {
  process.stderr.write(`faces.mjs: ${msg}\nusage: node faces.mjs --count N [--seed S] [--start I] [--out FILE]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { count: null, seed: 0, start: 0, out: null };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const value = argv[i + 1];
    if (!["--count", "--seed", "--start", "--out"].includes(key)) usage(`unknown argument '${key}'`);
    if (value === undefined) usage(`${key} needs a value`);
    i++;
    if (key === "--out") {
      args.out = value;
      continue;
    }
    if (!/^\d+$/.test(value)) usage(`${key} must be a non-negative integer, got '${value}'`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || (key === "--seed" && n > 0xffffffff)) usage(`${key} is out of range: ${value}`);
    args[key.slice(2)] = n;
  }
  if (args.count === null) usage("--count is required");
  return args;
}

// mulberry32: a small, well-mixed 32-bit PRNG returning floats in [0, 1).
function mulberry32(a) {
  return function () {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The PRNG state for face `index` of data set `seed` (a murmur3-style finaliser of both).
function faceState(seed, index) {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function makeFace(seed, index) {
  const random = mulberry32(faceState(seed, index));
  const saved = Math.random;
  Math.random = random;
  try {
    const gender = random() < 0.5 ? "male" : "female";
    const face = generate(undefined, { gender });
    // faceToSvgString may adjust the face while drawing (hair under a hat), so the attributes
    // are recorded after it, as drawn.
    const svg = faceToSvgString(face);
    return { index, svg, face: { gender, ...face } };
  } finally {
    Math.random = saved;
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const tmp = args.out === null ? null : `${args.out}.tmp${process.pid}`;
  const stream = tmp === null ? process.stdout : fs.createWriteStream(tmp);
  const write = (line) =>
    stream.write(line) ? Promise.resolve() : new Promise((resolve) => stream.once("drain", resolve));
  for (let i = args.start; i < args.start + args.count; i++) {
    await write(JSON.stringify(makeFace(args.seed, i)) + "\n");
  }
  if (tmp !== null) {
    await new Promise((resolve, reject) => stream.end((err) => (err ? reject(err) : resolve())));
    fs.renameSync(tmp, args.out);
  }
}

main().catch((err) => {
  process.stderr.write(`faces.mjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
