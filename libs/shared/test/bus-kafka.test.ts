import { KafkaBus } from '../src/index.js';
import { busContract } from './bus-contract.js';
import { kafkaTestConfig } from './helpers.js';

busContract('KafkaBus (real broker)', () => new KafkaBus(kafkaTestConfig('contract-test')));
