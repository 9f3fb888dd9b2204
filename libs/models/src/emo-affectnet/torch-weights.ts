/**
 * The authors' PyTorch checkpoints as a {@link WeightSource}: the same builders, the same graphs.
 *
 * The PyTorch port (REFERENCE.md "The PyTorch form") has the Keras model's layers under other
 * names and layouts; this source renames and transposes so the builders get what a Keras file
 * would give them:
 *
 * | Keras layer (builder's name)       | PyTorch tensor prefix                  |
 * |------------------------------------|----------------------------------------|
 * | conv1_7x7_s2, conv1_7x7_s2_bn      | conv_layer_s2_same, batch_norm1        |
 * | conv{s}_{b}_1x1_reduce(_bn)        | layer{s−1}.{b−1}.conv1 / .batch_norm1  |
 * | conv{s}_{b}_3x3(_bn)               | layer{s−1}.{b−1}.conv2 / .batch_norm2  |
 * | conv{s}_{b}_1x1_increase(_bn)      | layer{s−1}.{b−1}.conv3 / .batch_norm3  |
 * | conv{s}_{b}_1x1_proj(_bn)          | layer{s−1}.{b−1}.i_downsample.0 / .1   |
 * | features, probs (backbone)         | fc1, fc2                               |
 * | lstm1, lstm2, probs (temporal)     | lstm1, lstm2, fc                       |
 *
 * Layouts: conv weights OIHW → HWIO; Linear weights [out, in] → [in, out]; BatchNorm
 * weight/bias/running_mean/running_var → gamma/beta/moving_mean/moving_variance (ε is not stored:
 * the authors' modules use 0.001, as Keras). LSTM weight_ih/weight_hh [4u, in] → [in, 4u];
 * PyTorch's gate order i, f, g, o is Keras's i, f, c, o, so only a transpose is needed; PyTorch's
 * two biases stay two (ONNX's LSTM has both), where Keras has one.
 */
import type { TorchCheckpoint, TorchTensor } from '../pytorch/checkpoint.js';
import type { BackboneSpec, StageSpec } from './backbone.js';
import type { TemporalSpec } from './temporal.js';
import { LOGICAL_LAYERS, type BatchNormWeights, type DenseWeights, type LstmWeights, type WeightSource } from './weights.js';

/** Which of the authors' two modules a checkpoint holds (`probs` means fc2 in one, fc in the other). */
export type TorchModelRole = 'backbone' | 'temporal';

export class TorchWeightSource implements WeightSource {
  readonly description: string;

  constructor(
    private readonly checkpoint: TorchCheckpoint,
    private readonly role: TorchModelRole,
  ) {
    this.description = checkpoint.file;
  }

  conv(layer: string, [kh, kw, cin, cout]: readonly [number, number, number, number]): Float32Array {
    const module = this.moduleOf(layer);
    if (this.checkpoint.tensors.has(`${module}.bias`)) {
      throw new Error(`${this.checkpoint.file}: tensor "${module}.bias" exists; the ResNet50 convs have no bias`);
    }
    const oihw = this.get(`${module}.weight`, [cout, cin, kh, kw], layer);
    const hwio = new Float32Array(oihw.length);
    for (let o = 0; o < cout; o++)
      for (let i = 0; i < cin; i++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++) hwio[((y * kw + x) * cin + i) * cout + o] = oihw[((o * cin + i) * kh + y) * kw + x]!;
    return hwio;
  }

  batchNorm(layer: string, channels: number): BatchNormWeights {
    const module = this.moduleOf(layer);
    return {
      gamma: this.get(`${module}.weight`, [channels], layer),
      beta: this.get(`${module}.bias`, [channels], layer),
      movingMean: this.get(`${module}.running_mean`, [channels], layer),
      movingVariance: this.get(`${module}.running_var`, [channels], layer),
    };
  }

  dense(layer: string, inputs: number, units: number): DenseWeights {
    const module = this.moduleOf(layer);
    return {
      kernel: transpose(this.get(`${module}.weight`, [units, inputs], layer), units, inputs),
      bias: this.get(`${module}.bias`, [units], layer),
    };
  }

  lstm(layer: string, inputs: number, units: number): LstmWeights {
    const module = this.moduleOf(layer);
    for (const name of this.checkpoint.tensors.keys()) {
      if (name.startsWith(`${module}.`) && /_l[1-9]|_reverse/.test(name)) {
        throw new Error(`${this.checkpoint.file}: tensor "${name}": a stacked or bidirectional LSTM; the authors' LSTMs have one direction and one layer each`);
      }
    }
    return {
      kernel: transpose(this.get(`${module}.weight_ih_l0`, [4 * units, inputs], layer), 4 * units, inputs),
      recurrentKernel: transpose(this.get(`${module}.weight_hh_l0`, [4 * units, units], layer), 4 * units, units),
      bias: this.get(`${module}.bias_ih_l0`, [4 * units], layer),
      recurrentBias: this.get(`${module}.bias_hh_l0`, [4 * units], layer),
    };
  }

  /** A tensor's shape; fails naming the tensor when the checkpoint lacks it. */
  shape(tensor: string): readonly number[] {
    return this.tensor(tensor).shape;
  }

  has(tensor: string): boolean {
    return this.checkpoint.tensors.has(tensor);
  }

  /** The PyTorch module that holds a Keras layer's weights. */
  private moduleOf(layer: string): string {
    if (layer === 'conv1_7x7_s2') return 'conv_layer_s2_same';
    if (layer === 'conv1_7x7_s2_bn') return 'batch_norm1';
    const block = /^conv(\d+)_(\d+)_(1x1_reduce|3x3|1x1_increase|1x1_proj)(_bn)?$/.exec(layer);
    if (block) {
      const [, stage, index, part, bn] = block;
      const prefix = `layer${Number(stage) - 1}.${Number(index) - 1}`;
      const [conv, norm] = {
        '1x1_reduce': ['conv1', 'batch_norm1'],
        '3x3': ['conv2', 'batch_norm2'],
        '1x1_increase': ['conv3', 'batch_norm3'],
        '1x1_proj': ['i_downsample.0', 'i_downsample.1'],
      }[part!]!;
      return `${prefix}.${bn ? norm : conv}`;
    }
    if (this.role === 'backbone' && layer === 'features') return 'fc1';
    if (this.role === 'backbone' && layer === LOGICAL_LAYERS.backboneProbs) return 'fc2';
    if (this.role === 'temporal' && (layer === LOGICAL_LAYERS.lstm1 || layer === LOGICAL_LAYERS.lstm2)) return layer;
    if (this.role === 'temporal' && layer === LOGICAL_LAYERS.temporalProbs) return 'fc';
    throw new Error(`${this.checkpoint.file}: no PyTorch module corresponds to the ${this.role}'s layer "${layer}"`);
  }

  private tensor(name: string, layer?: string): TorchTensor {
    const found = this.checkpoint.tensors.get(name);
    if (!found) {
      const expected = this.role === 'backbone' ? 'ResNet50 (FER_static_ResNet50_AffectNet.pt)' : 'LSTMPyTorch (FER_dinamic_LSTM_<corpus>.pt)';
      throw new Error(`${this.checkpoint.file}: has no tensor "${name}"${layer ? ` (Keras layer ${layer})` : ''}; not the authors' ${expected} state dict`);
    }
    return found;
  }

  private get(name: string, shape: readonly number[], layer: string): Float32Array {
    const tensor = this.tensor(name, layer);
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'float64' && tensor.dtype !== 'float16' && tensor.dtype !== 'bfloat16') {
      throw new Error(`${this.checkpoint.file}: tensor "${name}" is ${tensor.dtype}, expected floating-point weights`);
    }
    if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${this.checkpoint.file}: tensor "${name}" has shape [${tensor.shape.join(',')}], expected [${shape.join(',')}]`);
    }
    return tensor.toFloat32();
  }
}

/** [rows, cols] → [cols, rows]. */
function transpose(matrix: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(matrix.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[r * cols + c]!;
  return out;
}

/** Widths and block counts from a ResNet50 state dict (so narrow test models import too). */
export function backboneSpecFromTorch(source: TorchWeightSource): BackboneSpec {
  const out = (tensor: string) => source.shape(tensor)[0]!;
  const stages: StageSpec[] = [];
  for (let layer = 1; source.has(`layer${layer}.0.conv1.weight`); layer++) {
    let blocks = 0;
    while (source.has(`layer${layer}.${blocks}.conv1.weight`)) blocks++;
    const p = `layer${layer}.0`;
    stages.push({ stage: layer + 1, blocks, filters: [out(`${p}.conv1.weight`), out(`${p}.conv2.weight`), out(`${p}.conv3.weight`)] });
  }
  if (stages.length !== 4) {
    throw new Error(`${source.description}: found ${stages.length} ResNet stages (layer1.… to layer4.…), expected 4; not the authors' ResNet50 state dict`);
  }
  return { stem: out('conv_layer_s2_same.weight'), stages, features: out('fc1.weight'), classes: out('fc2.weight') };
}

/** Sizes from an LSTMPyTorch state dict; the window (not stored) is the authors' 10. */
export function temporalSpecFromTorch(source: TorchWeightSource, window = 10): TemporalSpec {
  return {
    window,
    features: source.shape('lstm1.weight_ih_l0')[1]!,
    hidden1: source.shape('lstm1.weight_hh_l0')[1]!,
    hidden2: source.shape('lstm2.weight_hh_l0')[1]!,
    classes: source.shape('fc.weight')[0]!,
  };
}
