// Full-size weights computed from a formula on both sides (here and in make_keras_fixtures.py),
// so full-size Keras parity needs no stored weights.
import type { BatchNormWeights, DenseWeights, LstmWeights, WeightSource } from '../../src/emo-affectnet/weights.js';
import { formulaWeight } from './formula-input.js';

export class FormulaWeightSource implements WeightSource {
  readonly description = 'formula';

  conv(layer: string, shape: readonly [number, number, number, number]): Float32Array {
    const [kh, kw, cin, cout] = shape;
    const scale = Math.sqrt(6 / (kh * kw * cin)) / (layer === 'conv1_7x7_s2' ? 60 : 1);
    return formulaWeight(`${layer}/kernel`, kh * kw * cin * cout, scale);
  }

  batchNorm(layer: string, channels: number): BatchNormWeights {
    const gamma = layer.endsWith('_1x1_increase_bn') ? 0.2 : 1;
    return {
      gamma: formulaWeight(`${layer}/gamma`, channels, 0.1 * gamma, gamma),
      beta: formulaWeight(`${layer}/beta`, channels, 0.1),
      movingMean: formulaWeight(`${layer}/moving_mean`, channels, 0.1),
      movingVariance: formulaWeight(`${layer}/moving_variance`, channels, 0.2, 1),
    };
  }

  dense(layer: string, inputs: number, units: number): DenseWeights {
    // Gain 20 on `features` brings them to O(1) (see make_keras_fixtures.py).
    const gain = layer === 'features' ? 20 : 1;
    return { kernel: formulaWeight(`${layer}/kernel`, inputs * units, gain * Math.sqrt(6 / inputs)), bias: formulaWeight(`${layer}/bias`, units, 0.1) };
  }

  lstm(layer: string, inputs: number, units: number): LstmWeights {
    return {
      kernel: formulaWeight(`${layer}/kernel`, inputs * 4 * units, Math.sqrt(1 / inputs)),
      recurrentKernel: formulaWeight(`${layer}/recurrent_kernel`, units * 4 * units, Math.sqrt(1 / units)),
      bias: formulaWeight(`${layer}/bias`, 4 * units, 0.5),
    };
  }
}
