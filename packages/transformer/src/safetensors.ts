// The safetensors file format (https://github.com/huggingface/safetensors), for F32 and I32
// tensors: pure functions on bytes, no fs and no tfjs, so it runs in browsers too.
//
// Layout: [u64 little-endian N][N bytes of UTF-8 JSON header][data]. The header maps each
// tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the start of
// the data section) and may hold "__metadata__": {string: string}. We write "__metadata__"
// first, then tensors sorted by name, data laid out contiguously in that order, and pad the
// header with spaces so that the data section starts at a multiple of 8 bytes.

export type SafetensorsDtype = "F32" | "I32";

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface DecodedSafetensors {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** Bytes per element of each supported dtype. */
const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, I32: 4 };
/** Dtypes of the format that this module does not read, named for a clearer error. */
const OTHER_DTYPES = new Set(["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "U32", "I64", "U64", "F64"]);
/** Same bound as the reference implementation: refuse absurd headers before parsing them. */
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = "SafetensorsError";
  }
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.some((n) => typeof n !== "number" || !Number.isInteger(n) || n < 0)) {
    throw new SafetensorsError(`tensor "${name}": shape must be a list of integers >= 0 (got ${JSON.stringify(shape)})`);
  }
  return shape as number[];
}

/** Copies typed-array elements into little-endian bytes. */
function toLittleEndianBytes(data: Float32Array | Int32Array): Uint8Array {
  const out = new Uint8Array(data.byteLength);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } else {
    const view = new DataView(out.buffer);
    for (let i = 0; i < data.length; i++) {
      if (data instanceof Float32Array) view.setFloat32(i * 4, data[i] as number, true);
      else view.setInt32(i * 4, data[i] as number, true);
    }
  }
  return out;
}

/**
 * Serializes tensors (and optional string metadata) to safetensors bytes. Tensors are written
 * in name order; the data arrays are copied, not kept. Throws on a dtype/data mismatch or a
 * data length that does not match the shape.
 */
export function encodeSafetensors(tensors: Map<string, SafetensorsTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new SafetensorsError(`metadata "${k}" must be a string (got ${JSON.stringify(v)})`);
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new SafetensorsError(`"__metadata__" is reserved and cannot be a tensor name`);
    const t = tensors.get(name) as SafetensorsTensor;
    if (!(t.dtype in DTYPE_BYTES)) throw new SafetensorsError(`tensor "${name}": unsupported dtype ${JSON.stringify(t.dtype)} (F32 or I32)`);
    const shape = checkShape(name, t.shape);
    if ((t.dtype === "F32") !== t.data instanceof Float32Array || (t.dtype === "I32") !== t.data instanceof Int32Array) {
      throw new SafetensorsError(`tensor "${name}": dtype ${t.dtype} needs a ${t.dtype === "F32" ? "Float32Array" : "Int32Array"}`);
    }
    if (t.data.length !== elementCount(shape)) {
      throw new SafetensorsError(`tensor "${name}": shape [${shape.join(", ")}] needs ${elementCount(shape)} values, data has ${t.data.length}`);
    }
    const size = t.data.length * DTYPE_BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded); // spaces: valid JSON whitespace
  let at = 8 + padded;
  for (const name of names) {
    const bytes = toLittleEndianBytes((tensors.get(name) as SafetensorsTensor).data);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/** One tensor's entry in a safetensors header (offsets relative to the data section). */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** A parsed and validated header: what the file holds, before any tensor data is read. */
export interface SafetensorsHeader {
  /** Entries sorted by name. */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
}

/**
 * The header length N from the first 8 bytes, checked against the file size and the header
 * size limit. Read this first, then the N header bytes, then {@link parseSafetensorsHeader}.
 */
export function safetensorsHeaderLength(first8: Uint8Array, fileLength: number): number {
  if (fileLength < 8 || first8.length < 8) throw new SafetensorsError(`truncated file: ${fileLength} bytes, the 8-byte header length is missing`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileLength - 8)) {
    throw new SafetensorsError(`truncated file: header length ${n} exceeds the ${fileLength - 8} bytes after the length field`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  return Number(n);
}

/**
 * Parses and validates a header without the tensor data: `headerBytes` holds at least the
 * first 8 + N bytes of a file of `fileLength` bytes. Checks a JSON object header, known
 * dtypes, byte sizes that match shape * dtype, offsets inside the data section that neither
 * overlap nor leave gaps, and no trailing bytes. Allocates nothing proportional to the tensors.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileLength: number): SafetensorsHeader {
  const headerLen = safetensorsHeaderLength(headerBytes, fileLength);
  if (headerBytes.length < 8 + headerLen) throw new SafetensorsError(`header: ${headerBytes.length} bytes given, ${8 + headerLen} needed`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new SafetensorsError(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) throw new SafetensorsError("header must be a JSON object");

  const dataStart = 8 + headerLen;
  const dataLen = fileLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new SafetensorsError("__metadata__ must be an object of strings");
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") throw new SafetensorsError(`__metadata__."${k}" must be a string (got ${JSON.stringify(v)})`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (info === null || typeof info !== "object") throw new SafetensorsError(`tensor "${name}": entry must be an object`);
    const dtype = info.dtype;
    if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
      const why = typeof dtype === "string" && OTHER_DTYPES.has(dtype) ? "is not supported here (F32 or I32)" : "is unknown";
      throw new SafetensorsError(`tensor "${name}": dtype ${JSON.stringify(dtype)} ${why}`);
    }
    const shape = checkShape(name, info.shape);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => typeof o !== "number" || !Number.isInteger(o) || o < 0)) {
      throw new SafetensorsError(`tensor "${name}": data_offsets must be [begin, end] integers (got ${JSON.stringify(offs)})`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin || end > dataLen) {
      throw new SafetensorsError(`tensor "${name}": data_offsets [${begin}, ${end}] out of range (data section has ${dataLen} bytes; truncated file?)`);
    }
    const want = elementCount(shape) * DTYPE_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== want) {
      throw new SafetensorsError(`tensor "${name}": ${end - begin} bytes but shape [${shape.join(", ")}] of ${dtype} needs ${want}`);
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape, begin, end });
  }
  // The data section must be covered exactly: sorted by offset, each tensor starts where the
  // previous one ended, and the last ends at the end of the file.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expect = 0;
  for (const e of byOffset) {
    if (e.begin < expect) throw new SafetensorsError(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${expect})`);
    if (e.begin > expect) throw new SafetensorsError(`tensor "${e.name}": gap in the data section before offset ${e.begin} (previous tensor ends at ${expect})`);
    expect = e.end;
  }
  if (expect !== dataLen) throw new SafetensorsError(`${dataLen - expect} trailing bytes after the last tensor`);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries, metadata, dataStart };
}

/**
 * Parses safetensors bytes: the header as {@link parseSafetensorsHeader} checks it, then the
 * data. The returned arrays are copies (they do not alias `bytes`).
 */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes, bytes.length);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const count = elementCount(e.shape);
    const src = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    let data: Float32Array | Int32Array;
    if (LITTLE_ENDIAN) {
      const copy = new Uint8Array(src.length);
      copy.set(src);
      data = e.dtype === "F32" ? new Float32Array(copy.buffer, 0, count) : new Int32Array(copy.buffer, 0, count);
    } else {
      const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      data = e.dtype === "F32" ? new Float32Array(count) : new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = e.dtype === "F32" ? dv.getFloat32(i * 4, true) : dv.getInt32(i * 4, true);
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}
