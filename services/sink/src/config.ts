import { z } from 'zod';
import { nestBindings, runtimeConfigSchema, runtimeEnvBindings } from '@emostream/shared';

export const sinkConfigSchema = z.object({ runtime: runtimeConfigSchema }).strict();
export const sinkEnvBindings = nestBindings('runtime', runtimeEnvBindings);
