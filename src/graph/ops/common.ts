/**
 * Shared pieces of the op specs: the spec interface, shape formatting, numpy broadcasting
 * over symbolic dims, dtype promotion and attribute readers.
 */
import { ShapeError } from '../../errors/index.js';
import { isFloatDType } from '../dtype.js';
import type { AttrValue, Attrs, DType, Dim, Shape } from '../types.js';

/** What shape inference needs of a tensor (a `TensorDef` is one). */
export interface TensorSig {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** Output shapes/dtypes of one op, computed from its inputs when the graph is built. */
export interface OpSpec {
  readonly name: string;
  /** Throws `ShapeError` naming the op and the offending shapes. */
  infer(inputs: readonly TensorSig[], attrs: Attrs): TensorSig[];
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Throws unless the op got between `min` and `max` inputs. */
export function expectInputs(op: string, inputs: readonly TensorSig[], min: number, max = min): void {
  if (inputs.length < min || inputs.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new ShapeError(`${op}: expected ${want} inputs, got ${inputs.length}`);
  }
}

export function input(inputs: readonly TensorSig[], i: number): TensorSig {
  const t = inputs[i];
  if (!t) throw new ShapeError(`missing input ${i}`);
  return t;
}

export function expectRank(op: string, what: string, t: TensorSig, rank: number): void {
  if (t.shape.length !== rank) {
    throw new ShapeError(`${op}: ${what} must have rank ${rank}, got shape ${formatShape(t.shape)}`);
  }
}

export function expectDType(op: string, what: string, t: TensorSig, ok: (d: DType) => boolean, want: string): void {
  if (!ok(t.dtype)) throw new ShapeError(`${op}: ${what} must be ${want}, got ${t.dtype} (shape ${formatShape(t.shape)})`);
}

export const isFloat = (d: DType): boolean => isFloatDType(d);
export const isInt32 = (d: DType): boolean => d === 'int32';

/** Numpy broadcasting; a symbolic dim only matches the same symbol or 1. */
export function broadcastShapes(op: string, a: Shape, b: Shape): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)]!;
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)]!;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new ShapeError(`${op}: cannot broadcast shapes ${formatShape(a)} and ${formatShape(b)} (dim ${da} vs ${db})`);
  }
  return out;
}

/** Result dtype of a binary op: equal dtypes stay, mixed floats compute in float32. */
export function promote(op: string, a: TensorSig, b: TensorSig): DType {
  if (a.dtype === b.dtype) return a.dtype;
  if (isFloatDType(a.dtype) && isFloatDType(b.dtype)) return 'float32';
  throw new ShapeError(`${op}: dtypes ${a.dtype} ${formatShape(a.shape)} and ${b.dtype} ${formatShape(b.shape)} do not mix; cast one of them`);
}

/** Normalizes a possibly negative axis for a tensor of rank `rank`. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export function numAttr(op: string, attrs: Attrs, key: string, fallback?: number): number {
  const v = attrs[key];
  if (typeof v === 'number') return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new ShapeError(`${op}: attribute '${key}' must be a number, got ${JSON.stringify(v)}`);
}

export function boolAttr(attrs: Attrs, key: string): boolean {
  return attrs[key] === true;
}

export function strAttr(op: string, attrs: Attrs, key: string, fallback?: string): string {
  const v = attrs[key];
  if (typeof v === 'string') return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new ShapeError(`${op}: attribute '${key}' must be a string, got ${JSON.stringify(v)}`);
}

export function numListAttr(op: string, attrs: Attrs, key: string): number[] {
  const v = attrs[key];
  if (Array.isArray(v) && v.every((x): x is number => typeof x === 'number')) return [...v];
  throw new ShapeError(`${op}: attribute '${key}' must be a list of numbers, got ${JSON.stringify(v)}`);
}

/**
 * Dim lists as attribute values: all-numeric lists stay numbers; lists with symbols are
 * stored as strings (numbers written in decimal), since attribute arrays are homogeneous.
 */
export function encodeDims(dims: readonly Dim[]): AttrValue {
  if (dims.every((d) => typeof d === 'number')) return dims as number[];
  return dims.map((d) => String(d));
}

export function decodeDims(op: string, v: AttrValue | undefined): Dim[] {
  if (!Array.isArray(v)) throw new ShapeError(`${op}: expected a list of dims, got ${JSON.stringify(v)}`);
  return (v as readonly (number | string)[]).map((d) => (typeof d === 'string' && /^-?\d+$/.test(d) ? Number(d) : d));
}

/** Product of numeric dims; `undefined` when any dim is symbolic. */
export function staticNumel(shape: Shape): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

export function lastDim(t: TensorSig): Dim {
  const d = t.shape[t.shape.length - 1];
  if (d === undefined) throw new ShapeError(`expected rank >= 1, got a scalar`);
  return d;
}
