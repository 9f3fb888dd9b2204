/**
 * A small, typed ONNX graph builder.
 *
 * It sits on `onnx-proto` (the ONNX protobuf schema compiled for protobufjs), so this file only
 * decides *what* goes into a model and never how protobuf encodes it. Every model builder in this
 * package (EMO-AffectNet's ResNet50 and LSTM, and the detectors of the default pack) describes its
 * graph through this class:
 *
 * ```ts
 * const g = new OnnxGraphBuilder('tiny');
 * const x = g.addInput('x', 'float32', ['N', 4]);
 * const w = g.addInitializer('w', new Float32Array(8), [4, 2]);
 * const y = g.op('MatMul', [x, w], {}, 'y');
 * g.addOutput(y, 'float32', ['N', 2]);
 * const bytes = g.toBytes();          // a complete ModelProto, opset 17
 * ```
 *
 * Attributes: a plain integer is an INT attribute, an integer array INTS, a string STRING;
 * floats must be wrapped with `attr.float(…)` / `attr.floats(…)`, so that `epsilon: 1` can never
 * silently become an INT that the runtime rejects.
 *
 * Serialisation is deterministic: the same calls give byte-identical models (tests compare sha256).
 */
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';

const { onnx: proto } = onnxProto;

/** The tensor element types this project needs. */
export type TensorDType = 'float32' | 'int64' | 'int32' | 'uint8';

/** A dimension: a fixed size, or a symbolic name (e.g. `'N'` for a dynamic batch). */
export type Dim = number | string;

/** Data for an initializer; its element type follows from the array type. */
export type TensorData = Float32Array | BigInt64Array | Int32Array;

/** A float attribute, wrapped so that it cannot be confused with an integer. */
export interface FloatAttribute {
  readonly kind: 'float';
  readonly value: number;
}
/** A list-of-floats attribute. */
export interface FloatsAttribute {
  readonly kind: 'floats';
  readonly value: readonly number[];
}
/** Any attribute value accepted by {@link OnnxGraphBuilder.node}. */
export type AttributeValue = number | readonly number[] | string | FloatAttribute | FloatsAttribute;

/** Constructors for float attributes (integers and strings are passed as plain values). */
export const attr = {
  float: (value: number): FloatAttribute => ({ kind: 'float', value }),
  floats: (value: readonly number[]): FloatsAttribute => ({ kind: 'floats', value }),
};

/** Options for {@link OnnxGraphBuilder.toModel}. */
export interface ModelOptions {
  /** Default-domain opset; 17 unless a graph needs another. */
  readonly opset?: number;
  readonly producerName?: string;
  readonly docString?: string;
  /** Free-form key/value pairs stored in the model's `metadata_props`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** ONNX IR version 8 is what opset 17 needs, and every onnxruntime since 1.12 reads it. */
const IR_VERSION = 8;
export const DEFAULT_OPSET = 17;

const ELEMENT_TYPE: Record<TensorDType, number> = {
  float32: proto.TensorProto.DataType.FLOAT,
  int32: proto.TensorProto.DataType.INT32,
  int64: proto.TensorProto.DataType.INT64,
  uint8: proto.TensorProto.DataType.UINT8,
};

/** Builds one ONNX graph, then serialises it as a complete model. */
export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private nameCounter = 0;

  constructor(readonly graphName: string) {}

  /** Declares a graph input and returns its name. */
  addInput(name: string, dtype: TensorDType, shape: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Declares an existing value (a node output) as a graph output. */
  addOutput(name: string, dtype: TensorDType, shape: readonly Dim[]): void {
    if (!this.names.has(name)) throw new Error(`graph ${this.graphName}: output "${name}" is not produced by any node`);
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  /**
   * Adds a constant tensor (weights, shapes, axes) and returns its name.
   * `dims` must multiply to the data's length; data is stored little-endian as `raw_data`.
   */
  addInitializer(name: string, data: TensorData, dims: readonly number[]): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (expected !== data.length) {
      throw new Error(`graph ${this.graphName}: initializer "${name}" has ${data.length} values but dims [${dims.join(',')}] need ${expected}`);
    }
    this.claim(name);
    this.initializers.push(
      proto.TensorProto.create({
        name,
        dims: [...dims],
        dataType: ELEMENT_TYPE[dtypeOf(data)],
        // Copy into a fresh buffer: `data` may be a view into a larger one (e.g. an HDF5 read).
        rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
      }),
    );
    return name;
  }

  /** Shorthand for an int64 initializer (shapes, axes, pads for opset ≥ 13 ops). */
  addInt64s(name: string, values: readonly number[]): string {
    return this.addInitializer(name, BigInt64Array.from(values, (v) => BigInt(v)), [values.length]);
  }

  /**
   * Adds a node and returns its output names.
   * `outputs` is either explicit names or a count of outputs to name automatically.
   */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Readonly<Record<string, AttributeValue>> = {},
    outputs: readonly string[] | number = 1,
    nodeName?: string,
  ): string[] {
    for (const input of inputs) {
      // '' is ONNX's "optional input left out".
      if (input !== '' && !this.names.has(input)) {
        throw new Error(`graph ${this.graphName}: ${opType} node uses "${input}", which nothing defines yet`);
      }
    }
    const name = nodeName ?? this.uniqueNodeName(opType);
    if (this.nodeNames.has(name)) throw new Error(`graph ${this.graphName}: node name "${name}" is used twice`);
    this.nodeNames.add(name);
    const outputNames =
      typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => this.uniqueName(`${name}_out${i}`)) : [...outputs];
    for (const output of outputNames) this.claim(output);
    this.nodes.push(
      proto.NodeProto.create({
        name,
        opType,
        input: [...inputs],
        output: outputNames,
        attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
      }),
    );
    return outputNames;
  }

  /** Adds a single-output node and returns that output's name (the node is named after it). */
  op(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>> = {}, output?: string): string {
    const name = output ?? this.uniqueName(opType);
    const [out] = this.node(opType, inputs, attributes, [name], name);
    return out!;
  }

  /** A value name not used yet in this graph, derived from `base`. */
  uniqueName(base: string): string {
    let name = base;
    while (this.names.has(name)) name = `${base}_${++this.nameCounter}`;
    return name;
  }

  private uniqueNodeName(base: string): string {
    let name = base;
    while (this.nodeNames.has(name)) name = `${base}_${++this.nameCounter}`;
    return name;
  }

  /** The complete `ModelProto` (protobufjs message). */
  toModel(options: ModelOptions = {}): onnx.ModelProto {
    if (this.outputs.length === 0) throw new Error(`graph ${this.graphName}: has no outputs`);
    return proto.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: options.producerName ?? '@emostream/models',
      docString: options.docString ?? '',
      opsetImport: [proto.OperatorSetIdProto.create({ domain: '', version: options.opset ?? DEFAULT_OPSET })],
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => proto.StringStringEntryProto.create({ key, value })),
      graph: proto.GraphProto.create({
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
  }

  /** The serialised model, ready for `InferenceSession.create(bytes)` or a `.onnx` file. */
  toBytes(options: ModelOptions = {}): Uint8Array {
    return proto.ModelProto.encode(this.toModel(options)).finish();
  }

  private claim(name: string): void {
    if (name === '') throw new Error(`graph ${this.graphName}: empty value name`);
    if (this.names.has(name)) throw new Error(`graph ${this.graphName}: value "${name}" is defined twice`);
    this.names.add(name);
  }
}

/** Decodes a serialised model (for tests and for inspecting users' ONNX files). */
export function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  return proto.ModelProto.decode(bytes);
}

function dtypeOf(data: TensorData): TensorDType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  return 'int32';
}

function valueInfo(name: string, dtype: TensorDType, shape: readonly Dim[]): onnx.IValueInfoProto {
  return proto.ValueInfoProto.create({
    name,
    type: proto.TypeProto.create({
      tensorType: proto.TypeProto.Tensor.create({
        elemType: ELEMENT_TYPE[dtype],
        shape: proto.TensorShapeProto.create({
          dim: shape.map((d) =>
            typeof d === 'number' ? proto.TensorShapeProto.Dimension.create({ dimValue: d }) : proto.TensorShapeProto.Dimension.create({ dimParam: d }),
          ),
        }),
      }),
    }),
  });
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const A = proto.AttributeProto.AttributeType;
  if (typeof value === 'string') return proto.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(value) });
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}=${value} is not an integer; wrap floats with attr.float()`);
    return proto.AttributeProto.create({ name, type: A.INT, i: value });
  }
  if (isFloatAttr(value)) {
    return value.kind === 'float'
      ? proto.AttributeProto.create({ name, type: A.FLOAT, f: value.value })
      : proto.AttributeProto.create({ name, type: A.FLOATS, floats: [...value.value] });
  }
  for (const v of value) {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name} has a non-integer ${v}; wrap float lists with attr.floats()`);
  }
  return proto.AttributeProto.create({ name, type: A.INTS, ints: [...value] });
}

function isFloatAttr(value: AttributeValue): value is FloatAttribute | FloatsAttribute {
  return typeof value === 'object' && value !== null && 'kind' in value;
}
