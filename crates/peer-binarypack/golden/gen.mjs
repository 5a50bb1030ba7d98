// Generates ../tests/golden.json from the real js-binarypack@0.0.9 (and object-sizeof, which
// skyway-js 4.4.5 uses for its chunk size). Run: npm ci && node gen.mjs
//
// Sections of the output:
// - vectors: js-binarypack's bytes for a JS value, and the value the bytes decode to (a
//   descriptor, see below). `pack: true` when peer-binarypack must produce the same bytes;
//   false for js-binarypack's known quirks (astral characters, inexact floats, NaN, 2^63, 2^64),
//   where only decoding is checked.
// - rules: vectors too large to store; the Rust test builds the value from the rule and checks
//   the length, first and last bytes and FNV-1a-64 of its encoding against js-binarypack's.
// - decode_only: hand-written inputs js-binarypack never writes but may read (non-minimal
//   forms, float32, 0xc1), with the value; `js_ok` tells whether js-binarypack decodes them to
//   that value too.
// - rust_to_js: bytes as peer-binarypack writes them (CESU-8 for astral characters), produced
//   here by an independent reference encoder and confirmed to decode in js-binarypack to the
//   intended value. The Rust test checks pack(value) == hex.
// - chunks: SkyWay DataConnection messages built exactly like skyway-js's send().
//
// Value descriptors: ["nil"], ["undef"], ["bool", b], ["int", "<decimal>"],
// ["float", "<16 hex digits of the IEEE bits>"], ["str", s], ["bin", "<hex>"],
// ["arr", [desc...]], ["map", [[kdesc, vdesc]...]], and ["bin_pattern", n] for the n bytes
// (i * 7 + 3) & 0xff, i = 0..n (large byte strings without storing them).
//
// Large byte strings are stored as a digest {len, head, tail, fnv1a64} (first and last 32
// bytes as hex, FNV-1a 64 as 16 hex digits) instead of hex.

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const BinaryPack = require('js-binarypack');
const sizeof = require('object-sizeof');
const binarypackVersion = require('js-binarypack/package.json').version;
const sizeofVersion = require('object-sizeof/package.json').version;

const OUT = fileURLToPath(new URL('../tests/golden.json', import.meta.url));

// ---------------------------------------------------------------------------------- helpers

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));

async function blobBytes(blob) {
  return new Uint8Array(await blob.arrayBuffer());
}

async function packJs(value) {
  return blobBytes(BinaryPack.pack(value));
}

function unpackJs(bytes) {
  // js-binarypack wants an ArrayBuffer of exactly these bytes.
  return BinaryPack.unpack(Uint8Array.from(bytes).buffer);
}

function f64Hex(f) {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, f);
  return hex(new Uint8Array(dv.buffer));
}

function f64FromHex(h) {
  return new DataView(unhex(h).buffer).getFloat64(0);
}

function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = (1n << 64n) - 1n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * prime) & mask;
  }
  return h.toString(16).padStart(16, '0');
}

function digest(bytes) {
  return {
    len: bytes.length,
    head: hex(bytes.slice(0, 32)),
    tail: hex(bytes.slice(-32)),
    fnv1a64: fnv1a64(bytes),
  };
}

// Hex for small byte strings, a digest for large ones.
function hexOrDigest(bytes) {
  return bytes.length <= 1024 ? { hex: hex(bytes) } : digest(bytes);
}

function fail(msg) {
  throw new Error(msg);
}

// ------------------------------------------------------------------------------ descriptors

const D = {
  nil: () => ['nil'],
  undef: () => ['undef'],
  bool: (b) => ['bool', b],
  int: (n) => ['int', BigInt(n).toString()],
  float: (f) => ['float', f64Hex(f)],
  str: (s) => ['str', s],
  bin: (bytes) => ['bin', hex(bytes)],
  binPattern: (n) => ['bin_pattern', n],
  arr: (items) => ['arr', items],
  map: (entries) => ['map', entries],
};

// What a JS value packs as, described (bytes of Blobs must be passed in `blobs`).
function describe(v) {
  if (v === null || v === undefined) return D.nil();
  switch (typeof v) {
    case 'boolean':
      return D.bool(v);
    case 'string':
      return D.str(v.toWellFormed());
    case 'number':
      return Math.floor(v) === v ? D.int(v) : D.float(v);
  }
  if (Array.isArray(v)) return D.arr(v.map(describe));
  if (v instanceof ArrayBuffer) return D.bin(new Uint8Array(v));
  if (ArrayBuffer.isView(v)) return D.bin(new Uint8Array(v.buffer)); // the whole buffer
  if (v.constructor === Object) {
    return D.map(Object.keys(v).map((k) => [D.str(k), describe(v[k])]));
  }
  fail(`cannot describe ${v}`);
}

// The JS value a descriptor stands for (to compare with js-binarypack's unpack).
function toJs(d) {
  switch (d[0]) {
    case 'nil':
      return null;
    case 'undef':
      return undefined;
    case 'bool':
      return d[1];
    case 'int':
      return Number(BigInt(d[1]));
    case 'float':
      return f64FromHex(d[1]);
    case 'str':
      return d[1];
    case 'bin':
      return unhex(d[1]).buffer;
    case 'bin_pattern':
      return bytesOf(d[1]).buffer;
    case 'arr':
      return d[1].map(toJs);
    case 'map': {
      const o = {};
      for (const [k, v] of d[1]) o[toJs(k)] = toJs(v);
      return o;
    }
  }
  fail(`bad descriptor ${JSON.stringify(d)}`);
}

function jsEqual(a, b) {
  if (a instanceof ArrayBuffer || b instanceof ArrayBuffer) {
    return (
      a instanceof ArrayBuffer &&
      b instanceof ArrayBuffer &&
      hex(new Uint8Array(a)) === hex(new Uint8Array(b))
    );
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsEqual(x, b[i]))
    );
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && jsEqual(a[k], b[k]));
  }
  return Object.is(a, b) || (a === 0 && b === 0);
}

// ------------------------------------------------------------------ the reference encoder
// What peer-binarypack writes for a descriptor: js-binarypack's forms, integral floats as
// integers and other floats with their exact bits, and CESU-8 (every UTF-16 unit as 1-3 bytes)
// with the length of the bytes written.

function refPack(d, out = []) {
  const len = (n, small, c16, c32) => {
    if (n <= 15) out.push(small + n);
    else if (n <= 0xffff) out.push(c16, n >> 8, n & 0xff);
    else out.push(c32, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  };
  const be = (code, big, bytes) => {
    out.push(code);
    const m = (1n << BigInt(8 * bytes)) - 1n;
    let x = big & m;
    const tmp = [];
    for (let i = 0; i < bytes; i++) {
      tmp.unshift(Number(x & 0xffn));
      x >>= 8n;
    }
    out.push(...tmp);
  };
  switch (d[0]) {
    case 'nil':
    case 'undef':
      out.push(0xc0);
      break;
    case 'bool':
      out.push(d[1] ? 0xc3 : 0xc2);
      break;
    case 'int': {
      const n = BigInt(d[1]);
      const inr = (lo, hi) => n >= lo && n <= hi;
      if (inr(-32n, 127n)) out.push(Number(n & 0xffn));
      else if (inr(0n, 0xffn)) be(0xcc, n, 1);
      else if (inr(-0x80n, 0x7fn)) be(0xd0, n, 1);
      else if (inr(0n, 0xffffn)) be(0xcd, n, 2);
      else if (inr(-0x8000n, 0x7fffn)) be(0xd1, n, 2);
      else if (inr(0n, 0xffffffffn)) be(0xce, n, 4);
      else if (inr(-0x80000000n, 0x7fffffffn)) be(0xd2, n, 4);
      else if (inr(-(1n << 63n), (1n << 63n) - 1n)) be(0xd3, n, 8);
      else if (inr(0n, (1n << 64n) - 1n)) be(0xcf, n, 8);
      else fail(`int out of range ${n}`);
      break;
    }
    case 'float': {
      // The JS number rule: integral values in -2^63..2^64 are written as integers.
      const f = f64FromHex(d[1]);
      if (Number.isFinite(f) && Math.trunc(f) === f && f >= -(2 ** 63) && f < 2 ** 64) {
        refPack(D.int(f), out);
      } else {
        out.push(0xcb, ...unhex(d[1]));
      }
      break;
    }
    case 'str': {
      const bytes = [];
      const s = d[1];
      for (let i = 0; i < s.length; i++) {
        const u = s.charCodeAt(i);
        if (u < 0x80) bytes.push(u);
        else if (u < 0x800) bytes.push(0xc0 | (u >> 6), 0x80 | (u & 0x3f));
        else bytes.push(0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f));
      }
      len(bytes.length, 0xb0, 0xd8, 0xd9);
      for (const b of bytes) out.push(b);
      break;
    }
    case 'bin':
    case 'bin_pattern': {
      const bytes = d[0] === 'bin' ? unhex(d[1]) : bytesOf(d[1]);
      len(bytes.length, 0xa0, 0xda, 0xdb);
      for (const b of bytes) out.push(b);
      break;
    }
    case 'arr':
      len(d[1].length, 0x90, 0xdc, 0xdd);
      for (const x of d[1]) refPack(x, out);
      break;
    case 'map':
      len(d[1].length, 0x80, 0xde, 0xdf);
      for (const [k, v] of d[1]) {
        refPack(k, out);
        refPack(v, out);
      }
      break;
    default:
      fail(`bad descriptor ${JSON.stringify(d)}`);
  }
  return out;
}

// ---------------------------------------------------------------------------- the vectors

const vectors = [];
const rustToJs = [];

// Packs `value` with js-binarypack. `quirk` names the expected difference from peer-binarypack
// (then only decoding is checked); the script fails if the bytes differ without one, or match
// with one. `expect` overrides the described value (for values js-binarypack mangles).
async function vec(name, value, { quirk = null, expect = null, note = null, rust = false } = {}) {
  const bytes = await packJs(value);
  const desc = expect ?? describe(value);
  const ref = hex(refPack(desc));
  const same = ref === hex(bytes);
  if (quirk && same) fail(`${name}: marked as quirk (${quirk}) but the bytes match`);
  if (!quirk && !same) fail(`${name}: js ${hex(bytes)} != reference ${ref}`);
  const entry = { name, hex: hex(bytes), value: desc, pack: !quirk };
  if (quirk) entry.quirk = quirk;
  if (note) entry.note = note;
  vectors.push(entry);
  if (rust || quirk === 'astral') r2j(`${name} (peer-binarypack form)`, desc);
}

// A float: js-binarypack's float encoder is inexact for some values; those vectors expect the
// value the bytes actually hold and are decode-only.
async function floatVec(name, f) {
  const bytes = await packJs(f);
  if (bytes[0] !== 0xcb) fail(`${name}: not a float64`);
  const held = hex(bytes.slice(1));
  const exact = held === f64Hex(f);
  vectors.push({
    name,
    hex: hex(bytes),
    value: ['float', held],
    pack: true,
    ...(exact ? {} : { quirk: `js-binarypack writes ${f} inexactly` }),
  });
  if (!exact) vectors[vectors.length - 1].pack = false;
}

// A vector in the rust->js direction: the reference bytes must decode in js-binarypack to the
// descriptor's value.
function r2j(name, desc) {
  const bytes = refPack(desc);
  const got = unpackJs(bytes);
  if (!jsEqual(got, toJs(desc))) fail(`${name}: js-binarypack decodes ${hex(bytes)} to ${got}`);
  rustToJs.push({ name, ...hexOrDigest(bytes), value: desc, js_ok: true });
}

function bytesOf(n) {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}
const ascii = (n) => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');

// nil, booleans
await vec('null', null);
await vec('undefined packs as nil', undefined);
await vec('false', false);
await vec('true', true);

// integers: every form and both sides of each boundary, in js-binarypack's order
for (const n of [
  0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 2 ** 53 - 1,
  -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -(2 ** 53 - 1), -(2 ** 63),
  2 ** 63 + 2048, 2 ** 64 - 2048,
]) {
  await vec(`int ${BigInt(n)}`, n);
}
await vec('-0 packs as 0', -0);
await vec('2^63 (js-binarypack writes int64 0x8000..., which is -2^63)', 2 ** 63, {
  note: 'js-binarypack wraps 2^63 into int64; the bytes are -2^63',
  expect: D.int(-(2n ** 63n)),
});
await vec('2^64 (js-binarypack writes uint64 0)', 2 ** 64, {
  quirk: 'js-binarypack wraps 2^64 to 0',
  expect: D.int(0),
});

// floats
for (const f of [
  0.5, -0.5, 1.5, 0.1, 0.30000000000000004, -1234.5678, Math.PI, 123456.789, 4503599627370495.5, -1e-300,
  2 ** -1022 * 1.5, 1e15 + 0.5, 2 ** -10 * 3, 1e-310, 1023.9999999999999, 5e-324,
  Number.MIN_VALUE * 12345, 0.9999999999999999,
]) {
  await floatVec(`float ${f}`, f);
}
{
  // NaN: js-binarypack writes 0xcb and eight zero bytes (0.0).
  const bytes = await packJs(NaN);
  vectors.push({
    name: 'NaN (js-binarypack writes float64 zero bits)',
    hex: hex(bytes),
    value: ['float', hex(bytes.slice(1))],
    pack: false,
    quirk: 'js-binarypack cannot encode NaN',
  });
}

// strings
for (const n of [0, 1, 15, 16, 255, 256, 600, 601]) await vec(`ascii string of ${n}`, ascii(n));
await vec('2-byte characters', 'é');
await vec('3-byte characters', '€日本語テキスト');
await vec('mixed BMP', 'aé€\u0000\u007f\u0080\u07ff\u0800\uffff');
await vec('300 x 2-byte (600 units, counted length)', 'é'.repeat(300));
await vec('301 x 2-byte (601 units, Blob length)', 'é'.repeat(301));
await vec('lone high surrogate becomes U+FFFD', '\ud800');
await vec('lone low surrogate inside', 'a\udc00b');
await vec('emoji', '😀', { quirk: 'astral' });
await vec('emoji inside text', 'a😀b€', { quirk: 'astral' });
await vec('emoji then map entry', { a: '😀', b: 1 }, { quirk: 'astral' });
await vec('emoji in array before ints', ['😀', 1, 2], { quirk: 'astral' });
await vec('emoji key', { '🔑': '鍵' }, { quirk: 'astral' });
await vec('300 emoji (600 units, counted length)', '😀'.repeat(300), { quirk: 'astral' });
await vec('301 emoji (602 units, Blob length)', '😀'.repeat(301), { quirk: 'astral' });
await vec('1 emoji + 600 ascii (602 units, Blob length)', '😀' + ascii(600), { quirk: 'astral' });
await vec('1 emoji + 598 ascii (600 units, counted length)', '😀' + ascii(598), { quirk: 'astral' });
await vec(
  '600-unit emoji string nested in a map',
  { s: '😀'.repeat(100) + ascii(400), n: 7 },
  { quirk: 'astral' },
);

// raw bytes
// js-binarypack throws on an empty ArrayBuffer or typed array (its length test is falsy);
// an empty Blob packs as 0xa0.
for (const n of [1, 15, 16, 255, 256]) await vec(`ArrayBuffer of ${n}`, bytesOf(n).buffer);
await vec('Uint8Array packs its whole buffer', new Uint8Array(bytesOf(8).buffer, 2, 3));
await vec('Int16Array packs its buffer bytes', new Int16Array([1, -2, 300]));
for (const n of [0, 20]) {
  const blob = new Blob([bytesOf(n)], { type: 'application/octet-stream' });
  const bytes = await packJs(blob);
  const desc = D.bin(bytesOf(n));
  if (hex(bytes) !== hex(refPack(desc))) fail('Blob');
  vectors.push({ name: `Blob of ${n} packs as raw`, hex: hex(bytes), value: desc, pack: true });
}
for (const empty of [new ArrayBuffer(0), new Uint8Array(0)]) {
  let threw = false;
  try {
    await packJs(empty);
  } catch {
    threw = true;
  }
  if (!threw) fail('js-binarypack packed an empty ArrayBuffer');
}

// arrays and maps
const fixints = (n) => Array.from({ length: n }, (_, i) => i % 128);
await vec('empty array', []);
await vec('array of 15', fixints(15));
await vec('array of 16', fixints(16));
await vec('nested arrays', [[], [[]], [[[1]]]]);
await vec('mixed array', [null, true, false, 1, -1, 0.5, 's', {}, [], 300, -300]);
await vec('empty map', {});
const obj = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i % 128]));
await vec('map of 15', obj(15));
await vec('map of 16', obj(16));
await vec('map with undefined value', { a: undefined, b: null });
await vec('integer-like keys come first in JS order', { b: 1, 2: 2, 1: 3 });
await vec('nested map', { user: { name: 'ann', tags: ['x', 'y'], score: 1.25 }, ok: true });
await vec('10 nested arrays', ruleValue({ kind: 'nested_arrays', depth: 10 }));

// ------------------------------------------------------------------ large vectors by rule

const rules = [];
function ruleValue(rule) {
  switch (rule.kind) {
    case 'str_repeat':
      return rule.unit.repeat(rule.count);
    case 'bin_pattern':
      return bytesOf(rule.len).buffer;
    case 'arr_fixint':
      return fixints(rule.count);
    case 'map_fixint':
      return obj(rule.count);
    case 'nested_arrays': {
      // depth arrays around the integer 1 (too deep for a JSON descriptor)
      let v = 1;
      for (let i = 0; i < rule.depth; i++) v = [v];
      return v;
    }
  }
  fail(`rule ${rule.kind}`);
}
for (const [name, rule] of [
  ['string of 65535 bytes', { kind: 'str_repeat', unit: 'a', count: 65535 }],
  ['string of 65536 bytes', { kind: 'str_repeat', unit: 'a', count: 65536 }],
  ['string of 30000 x 2-byte', { kind: 'str_repeat', unit: 'é', count: 30000 }],
  ['string of 40000 x 3-byte (d9)', { kind: 'str_repeat', unit: '€', count: 40000 }],
  ['ArrayBuffer of 65535', { kind: 'bin_pattern', len: 65535 }],
  ['ArrayBuffer of 65536', { kind: 'bin_pattern', len: 65536 }],
  ['array of 65535', { kind: 'arr_fixint', count: 65535 }],
  ['array of 65536', { kind: 'arr_fixint', count: 65536 }],
  ['map of 65535', { kind: 'map_fixint', count: 65535 }],
  ['map of 65536', { kind: 'map_fixint', count: 65536 }],
  ['200 nested arrays', { kind: 'nested_arrays', depth: 200 }],
]) {
  const value = ruleValue(rule);
  const bytes = await packJs(value);
  const ref = refPack(describe(value));
  if (hex(ref) !== hex(bytes)) fail(`${name}: differs from the reference`);
  rules.push({ name, rule, ...digest(bytes) });
}

// -------------------------------------------------------------------- hand-written inputs

const decodeOnly = [];
function dec(name, h, desc) {
  let got;
  try {
    got = unpackJs(unhex(h));
  } catch (e) {
    got = e;
  }
  decodeOnly.push({ name, hex: h, value: desc, js_ok: jsEqual(got, toJs(desc)) });
}
dec('0xc1 is undefined', 'c1', D.undef());
dec('float32', 'ca3fc00000', D.float(1.5));
dec('float32 negative', 'cac1480000', D.float(-12.5));
dec('integral float64 stays a float', 'cb4008000000000000', D.float(3));
dec('non-minimal uint16', 'cd0001', D.int(1));
dec('non-minimal uint32', 'ce0000007f', D.int(127));
dec('uint64 below 2^63', 'cf0000000000000005', D.int(5));
dec('uint64 above 2^63', 'cfffffffffffffffff', D.int(2n ** 64n - 1n));
dec('int8 positive', 'd005', D.int(5));
dec('int16', 'd1ff7f', D.int(-129));
dec('int32', 'd2ffff7fff', D.int(-32769));
dec('int64 -2^32', 'd3ffffffff00000000', D.int(-(2n ** 32n)));
dec('int64 -1 (js-binarypack loses precision)', 'd3ffffffffffffffff', D.int(-1));
dec('str16 empty', 'd80000', D.str(''));
dec('str32', 'd90000000161', D.str('a'));
dec('raw32', 'db00000002abcd', D.bin(unhex('abcd')));
dec('array16', 'dc0002c0c3', D.arr([D.nil(), D.bool(true)]));
dec('map32', 'df00000001b16101', D.map([[D.str('a'), D.int(1)]]));
dec('map with an integer key', '81 01 02'.replaceAll(' ', ''), D.map([[D.int(1), D.int(2)]]));

// ------------------------------------------------------------- rust -> js (CESU-8) vectors

r2j('CESU-8 emoji', D.str('😀'));
r2j('CESU-8 mixed', D.str('a😀b€é🎉'));
r2j('CESU-8 map', D.map([[D.str('🔑'), D.str('😀')], [D.str('n'), D.int(1)]]));
r2j('CESU-8 in array', D.arr([D.str('😀'), D.int(1), D.int(2)]));
{
  // Large: the descriptor would be as big as the bytes, so it is a rule here.
  const rule = { kind: 'str_repeat', unit: '🎉', count: 12000 };
  const desc = D.str(ruleValue(rule));
  const bytes = refPack(desc);
  if (!jsEqual(unpackJs(bytes), toJs(desc))) fail('CESU-8 str32');
  rustToJs.push({ name: 'CESU-8 12000 emoji (str32)', rule, ...digest(bytes), js_ok: true });
}
r2j('exact float', D.float(1023.9999999999999));
r2j('exact subnormal-free small float', D.float(2 ** -1022 * 1.5));
r2j('integral float as int', D.float(3));
r2j('float zero as int (js misreads float64 zero)', D.float(0));
r2j('float -0 as int', D.float(-0));
r2j('integral float beyond 2^64 stays float64', D.float(1e20));
r2j('Infinity', D.float(Infinity));
r2j('-Infinity', D.float(-Infinity));
r2j('uint64 2^63', D.int(2n ** 63n));

// ------------------------------------------------------------------------- skyway chunks
// Exactly skyway-js 4.4.5 DataConnection.send() for serialization "binary", with a fixed id.

const MAX_CHUNK_SIZE = 16300;
async function skywayChunks(data, id) {
  const packedData = BinaryPack.pack(data);
  const size = packedData.size;
  const type = data.constructor.name;
  const dataMeta = { id, type, size, totalParts: 0 };
  if (type === 'File') dataMeta.name = data.name;
  if (data instanceof Blob) dataMeta.mimeType = data.type;
  const chunkSize = MAX_CHUNK_SIZE - sizeof(dataMeta);
  const numSlices = Math.ceil(size / chunkSize);
  dataMeta.totalParts = numSlices;
  const blobs = [];
  for (let sliceIndex = 0; sliceIndex < numSlices; sliceIndex++) {
    dataMeta.index = sliceIndex;
    dataMeta.data = packedData.slice(sliceIndex * chunkSize, (sliceIndex + 1) * chunkSize);
    blobs.push(BinaryPack.pack(dataMeta));
  }
  const chunks = [];
  for (const b of blobs) chunks.push(hexOrDigest(await blobBytes(b)));
  return {
    id,
    type,
    file_name: dataMeta.name ?? null,
    mime_type: dataMeta.mimeType ?? null,
    chunk_size: chunkSize,
    payload: hexOrDigest(await blobBytes(packedData)),
    chunks,
  };
}

const chunkVectors = [];
async function chunkVec(name, data, { id = 'abcdefghij012345', value, quirk = null } = {}) {
  const c = await skywayChunks(data, id);
  chunkVectors.push({
    name,
    ...c,
    value: value ?? describe(data),
    encode_exact: !quirk,
    ...(quirk ? { quirk } : {}),
  });
  return c;
}

{
  const c = await chunkVec('String "hello" (the spec example)', 'hello');
  const spec =
    '86b26964d80010616263646566676869' +
    '6a303132333435b474797065b653747269' +
    '6e67b473697a6506ba746f74616c50617274' +
    '7301b5696e64657800b464617461a6b568656c6c6f';
  if (c.chunks.length !== 1 || c.chunks[0].hex !== spec) fail(`spec example differs: ${c.chunks[0]}`);
}
await chunkVec('Number', 3.5, { id: 'k2m1x0qz00000000' });
await chunkVec('Boolean', true, { id: '0123456789abcdef' });
await chunkVec('Object', { a: 1, b: [1, 2, 3], c: 'x', d: null });
await chunkVec('Array', [1, 'two', { three: 3 }]);
await chunkVec('ArrayBuffer of 20000 (two chunks)', bytesOf(20000).buffer, {
  value: D.binPattern(20000),
});
await chunkVec('Uint8Array of 16200 (two chunks)', bytesOf(16200), {
  id: 'zzzzzzzzzzzzzzzz',
  value: D.binPattern(16200),
});
await chunkVec('empty Blob', new Blob([]), { value: D.bin([]) });
{
  const blob = new Blob([bytesOf(100)], { type: '' });
  await chunkVec('Blob with empty type', blob, { value: D.bin(bytesOf(100)) });
}
{
  const file = new File([bytesOf(40)], 'report.txt', { type: 'text/plain' });
  await chunkVec('File', file, { value: D.bin(bytesOf(40)) });
}
{
  const file = new File([bytesOf(5)], 'ファイル😀.png', { type: 'image/png' });
  await chunkVec('File with an emoji name', file, {
    value: D.bin(bytesOf(5)),
    quirk: 'astral',
  });
}
await chunkVec('String with emoji', 'hi 😀', { quirk: 'astral' });

// -------------------------------------------------------------------------------- output

const out = {
  generator: 'crates/peer-binarypack/golden/gen.mjs',
  js_binarypack: binarypackVersion,
  object_sizeof: sizeofVersion,
  node: process.version,
  vectors,
  rules,
  decode_only: decodeOnly,
  rust_to_js: rustToJs,
  chunks: chunkVectors,
};
// One entry per line: compact, and diffs stay readable.
const lines = ['{'];
const keys = Object.keys(out);
keys.forEach((k, i) => {
  const comma = i + 1 < keys.length ? ',' : '';
  if (Array.isArray(out[k])) {
    lines.push(` ${JSON.stringify(k)}: [`);
    out[k].forEach((e, j) => lines.push(`  ${JSON.stringify(e)}${j + 1 < out[k].length ? ',' : ''}`));
    lines.push(` ]${comma}`);
  } else {
    lines.push(` ${JSON.stringify(k)}: ${JSON.stringify(out[k])}${comma}`);
  }
});
lines.push('}');
const text = lines.join('\n') + '\n';
JSON.parse(text);
writeFileSync(OUT, text);
console.log(
  `wrote ${OUT}: ${vectors.length} vectors, ${rules.length} rules, ${decodeOnly.length} decode-only, ` +
    `${rustToJs.length} rust->js, ${chunkVectors.length} chunk messages; ${text.length} bytes`,
);
