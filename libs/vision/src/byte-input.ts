/**
 * A backbone that takes its face crops as bytes.
 *
 * The backbone's float input is normally written by {@link writeTensor} on the Node main thread:
 * ~0.5 ms of per-value work a 224×224 crop, which on a GPU node is the stage's limit (the model
 * itself needs ~0.27 ms a face on an H200), and 4 bytes a value to copy to the device. Here the
 * model is given a new first step instead: its input takes the crops as they are (uint8, RGB,
 * interleaved, [N, H, W, 3]) and the graph itself reorders the channels, lays them out, and
 * subtracts the mean and scales, where onnxruntime does it (vectorised, on the GPU with CUDA).
 *
 * Exactly as {@link writeTensor}: the arithmetic is done in double precision, `(v − mean) · scale`,
 * and only the result is rounded to float32, so the model sees the same bits either way (a test
 * compares them).
 */
import { createRequire } from 'node:module';
import type onnxProtoModule from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import type { TensorSettings } from './preprocess.js';

/**
 * onnx-proto's generated code (~50 ms to load) is loaded on the first use, not by every process that
 * imports this package: only a backbone fed bytes (CUDA) needs it.
 */
function onnxProtobuf() {
  const { onnx: proto } = createRequire(import.meta.url)('onnx-proto') as typeof onnxProtoModule;
  return { proto, DataType: proto.TensorProto.DataType, AttributeType: proto.AttributeProto.AttributeType };
}

/**
 * `model` (ONNX bytes) with its image input `inputName` replaced by a uint8 RGB input of the same
 * name, [N, H, W, 3], and the steps that turn it into what the model took before (`settings`: the
 * pack's preprocessing and layout). Throws when the model has no such input, or when a node inside a
 * subgraph reads it (not supported: none of the project's backbones has one).
 */
export function withByteImageInput(model: Uint8Array, inputName: string, settings: TensorSettings): Uint8Array {
  const { proto, DataType, AttributeType } = onnxProtobuf();
  const decoded = proto.ModelProto.decode(model);
  const graph = decoded.graph;
  const input = graph?.input?.find((i) => i.name === inputName);
  const dims = input?.type?.tensorType?.shape?.dim;
  if (!graph || !input || !dims || dims.length !== 4)
    throw new Error(`the model has no 4-dimensional image input "${inputName}" to take bytes`);
  // The steps make exactly the float tensor the settings describe: the model must take that one.
  const { width, height } = settings.inputSize;
  const expected = settings.layout === 'NCHW' ? [3, height, width] : [height, width, 3];
  const actual = dims.slice(1).map((d) => (d.dimValue === undefined || d.dimValue === null ? d.dimParam : Number(d.dimValue)));
  if (input.type?.tensorType?.elemType !== DataType.FLOAT || actual.some((d, i) => d !== expected[i]))
    throw new Error(
      `the model's input "${inputName}" is not float32 [N, ${expected.join(', ')}] (${settings.layout}, as its preprocessing says): it cannot take bytes`,
    );
  if ((graph.node ?? []).some((n) => (n.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0)))
    throw new Error(`the model has subgraphs (If, Loop, Scan): its input "${inputName}" cannot be taken as bytes`);

  if ((graph.output ?? []).some((o) => o.name === inputName))
    throw new Error(`the model returns its input "${inputName}" as an output: it cannot be taken as bytes`);

  const used = new Set<string>([
    ...(graph.input ?? []).map((i) => i.name ?? ''),
    ...(graph.initializer ?? []).map((i) => i.name ?? ''),
    ...(graph.node ?? []).flatMap((n) => [...(n.output ?? []), n.name ?? '']),
  ]);
  const fresh = (what: string) => {
    let name = `${inputName}.${what}`;
    while (used.has(name)) name += '_';
    used.add(name);
    return name;
  };
  // What the model's nodes read from now on: the float tensor the new steps make.
  const prepared = fresh('prepared');
  for (const node of graph.node ?? []) node.input = (node.input ?? []).map((name) => (name === inputName ? prepared : name));

  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  let value = inputName;
  const step = (opType: string, inputs: string[], attributes: onnx.IAttributeProto[], output = fresh(opType.toLowerCase())) => {
    nodes.push(proto.NodeProto.create({ name: output, opType, input: [value, ...inputs], output: [output], attribute: attributes }));
    value = output;
  };
  const constant = (what: string, dataType: number, data: Float64Array | BigInt64Array, shape: number[]) => {
    const name = fresh(what);
    initializers.push(
      proto.TensorProto.create({
        name,
        dims: shape,
        dataType,
        rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
      }),
    );
    return name;
  };
  const int = (name: string, i: number) => proto.AttributeProto.create({ name, type: AttributeType.INT, i });
  const ints = (name: string, values: number[]) => proto.AttributeProto.create({ name, type: AttributeType.INTS, ints: values });

  // Channels first reordered and laid out while still bytes (a quarter of the data to move).
  if (settings.colorOrder === 'BGR')
    step('Gather', [constant('bgr', DataType.INT64, BigInt64Array.from([2n, 1n, 0n]), [3])], [int('axis', 3)]);
  if (settings.layout === 'NCHW') step('Transpose', [], [ints('perm', [0, 3, 1, 2])]);
  step('Cast', [], [int('to', DataType.DOUBLE)]);
  // The mean per channel, in the model's colour order, broadcast over the last (NHWC) or the channel axis.
  const meanShape = settings.layout === 'NCHW' ? [3, 1, 1] : [3];
  step('Sub', [constant('mean', DataType.DOUBLE, Float64Array.from(settings.mean), meanShape)], []);
  if (settings.scale !== 1) step('Mul', [constant('scale', DataType.DOUBLE, Float64Array.of(settings.scale), [])], []);
  step('Cast', [], [int('to', DataType.FLOAT)], prepared);

  const batch = dims[0]!;
  input.type = proto.TypeProto.create({
    tensorType: proto.TypeProto.Tensor.create({
      elemType: DataType.UINT8,
      shape: proto.TensorShapeProto.create({
        dim: [batch, ...[height, width, 3].map((dimValue) => proto.TensorShapeProto.Dimension.create({ dimValue }))],
      }),
    }),
  });
  graph.node = [...nodes, ...(graph.node ?? [])];
  graph.initializer = [...initializers, ...(graph.initializer ?? [])];
  return proto.ModelProto.encode(decoded).finish();
}
