import { z } from 'zod';
import { type EnvBinding } from '@emostream/shared';
export declare const ingestSettingsSchema: z.ZodObject<{
    jpegQuality: z.ZodDefault<z.ZodNumber>;
    maxWidth: z.ZodDefault<z.ZodNumber>;
    liveSampleFps: z.ZodDefault<z.ZodNumber>;
    connectTimeoutMs: z.ZodDefault<z.ZodNumber>;
    readTimeoutMs: z.ZodDefault<z.ZodNumber>;
    reconnectInitialMs: z.ZodDefault<z.ZodNumber>;
    reconnectMaxMs: z.ZodDefault<z.ZodNumber>;
}, "strict", z.ZodTypeAny, {
    jpegQuality: number;
    maxWidth: number;
    liveSampleFps: number;
    connectTimeoutMs: number;
    readTimeoutMs: number;
    reconnectInitialMs: number;
    reconnectMaxMs: number;
}, {
    jpegQuality?: number | undefined;
    maxWidth?: number | undefined;
    liveSampleFps?: number | undefined;
    connectTimeoutMs?: number | undefined;
    readTimeoutMs?: number | undefined;
    reconnectInitialMs?: number | undefined;
    reconnectMaxMs?: number | undefined;
}>;
export type IngestSettings = z.infer<typeof ingestSettingsSchema>;
export declare const ingestConfigSchema: z.ZodObject<{
    runtime: z.ZodEffects<z.ZodObject<{
        bus: z.ZodDefault<z.ZodEnum<["kafka", "memory"]>>;
        kafka: z.ZodOptional<z.ZodObject<{
            brokers: z.ZodString;
            clientId: z.ZodDefault<z.ZodString>;
            ssl: z.ZodDefault<z.ZodObject<{
                enabled: z.ZodDefault<z.ZodEffects<z.ZodBoolean, boolean, unknown>>;
                caFile: z.ZodOptional<z.ZodString>;
                rejectUnauthorized: z.ZodDefault<z.ZodEffects<z.ZodBoolean, boolean, unknown>>;
            }, "strict", z.ZodTypeAny, {
                enabled: boolean;
                rejectUnauthorized: boolean;
                caFile?: string | undefined;
            }, {
                enabled?: unknown;
                caFile?: string | undefined;
                rejectUnauthorized?: unknown;
            }>>;
            sasl: z.ZodDefault<z.ZodDiscriminatedUnion<"mechanism", [z.ZodObject<{
                mechanism: z.ZodLiteral<"none">;
            }, "strict", z.ZodTypeAny, {
                mechanism: "none";
            }, {
                mechanism: "none";
            }>, z.ZodObject<{
                username: z.ZodString;
                password: z.ZodString;
                mechanism: z.ZodLiteral<"plain">;
            }, "strict", z.ZodTypeAny, {
                password: string;
                mechanism: "plain";
                username: string;
            }, {
                password: string;
                mechanism: "plain";
                username: string;
            }>, z.ZodObject<{
                username: z.ZodString;
                password: z.ZodString;
                mechanism: z.ZodLiteral<"scram-sha-256">;
            }, "strict", z.ZodTypeAny, {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            }, {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            }>, z.ZodObject<{
                username: z.ZodString;
                password: z.ZodString;
                mechanism: z.ZodLiteral<"scram-sha-512">;
            }, "strict", z.ZodTypeAny, {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            }, {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            }>]>>;
        }, "strict", z.ZodTypeAny, {
            brokers: string;
            clientId: string;
            ssl: {
                enabled: boolean;
                rejectUnauthorized: boolean;
                caFile?: string | undefined;
            };
            sasl: {
                mechanism: "none";
            } | {
                password: string;
                mechanism: "plain";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            };
        }, {
            brokers: string;
            clientId?: string | undefined;
            ssl?: {
                enabled?: unknown;
                caFile?: string | undefined;
                rejectUnauthorized?: unknown;
            } | undefined;
            sasl?: {
                mechanism: "none";
            } | {
                password: string;
                mechanism: "plain";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            } | undefined;
        }>>;
        topicPrefix: z.ZodDefault<z.ZodString>;
        delivery: z.ZodDefault<z.ZodEnum<["at-least-once", "exactly-once"]>>;
        instanceId: z.ZodDefault<z.ZodString>;
        maxBatchSize: z.ZodDefault<z.ZodNumber>;
        opsPort: z.ZodDefault<z.ZodNumber>;
        opsHost: z.ZodDefault<z.ZodString>;
        shutdownGraceMs: z.ZodDefault<z.ZodNumber>;
        sessionTimeoutMs: z.ZodDefault<z.ZodNumber>;
        tracing: z.ZodDefault<z.ZodObject<{
            exporter: z.ZodDefault<z.ZodEnum<["none", "otlp"]>>;
            endpoint: z.ZodOptional<z.ZodString>;
        }, "strict", z.ZodTypeAny, {
            exporter: "none" | "otlp";
            endpoint?: string | undefined;
        }, {
            exporter?: "none" | "otlp" | undefined;
            endpoint?: string | undefined;
        }>>;
    }, "strict", z.ZodTypeAny, {
        bus: "kafka" | "memory";
        topicPrefix: string;
        delivery: "at-least-once" | "exactly-once";
        instanceId: string;
        maxBatchSize: number;
        opsPort: number;
        opsHost: string;
        shutdownGraceMs: number;
        sessionTimeoutMs: number;
        tracing: {
            exporter: "none" | "otlp";
            endpoint?: string | undefined;
        };
        kafka?: {
            brokers: string;
            clientId: string;
            ssl: {
                enabled: boolean;
                rejectUnauthorized: boolean;
                caFile?: string | undefined;
            };
            sasl: {
                mechanism: "none";
            } | {
                password: string;
                mechanism: "plain";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            };
        } | undefined;
    }, {
        kafka?: {
            brokers: string;
            clientId?: string | undefined;
            ssl?: {
                enabled?: unknown;
                caFile?: string | undefined;
                rejectUnauthorized?: unknown;
            } | undefined;
            sasl?: {
                mechanism: "none";
            } | {
                password: string;
                mechanism: "plain";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            } | undefined;
        } | undefined;
        bus?: "kafka" | "memory" | undefined;
        topicPrefix?: string | undefined;
        delivery?: "at-least-once" | "exactly-once" | undefined;
        instanceId?: string | undefined;
        maxBatchSize?: number | undefined;
        opsPort?: number | undefined;
        opsHost?: string | undefined;
        shutdownGraceMs?: number | undefined;
        sessionTimeoutMs?: number | undefined;
        tracing?: {
            exporter?: "none" | "otlp" | undefined;
            endpoint?: string | undefined;
        } | undefined;
    }>, {
        bus: "kafka" | "memory";
        topicPrefix: string;
        delivery: "at-least-once" | "exactly-once";
        instanceId: string;
        maxBatchSize: number;
        opsPort: number;
        opsHost: string;
        shutdownGraceMs: number;
        sessionTimeoutMs: number;
        tracing: {
            exporter: "none" | "otlp";
            endpoint?: string | undefined;
        };
        kafka?: {
            brokers: string;
            clientId: string;
            ssl: {
                enabled: boolean;
                rejectUnauthorized: boolean;
                caFile?: string | undefined;
            };
            sasl: {
                mechanism: "none";
            } | {
                password: string;
                mechanism: "plain";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            };
        } | undefined;
    }, {
        kafka?: {
            brokers: string;
            clientId?: string | undefined;
            ssl?: {
                enabled?: unknown;
                caFile?: string | undefined;
                rejectUnauthorized?: unknown;
            } | undefined;
            sasl?: {
                mechanism: "none";
            } | {
                password: string;
                mechanism: "plain";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            } | undefined;
        } | undefined;
        bus?: "kafka" | "memory" | undefined;
        topicPrefix?: string | undefined;
        delivery?: "at-least-once" | "exactly-once" | undefined;
        instanceId?: string | undefined;
        maxBatchSize?: number | undefined;
        opsPort?: number | undefined;
        opsHost?: string | undefined;
        shutdownGraceMs?: number | undefined;
        sessionTimeoutMs?: number | undefined;
        tracing?: {
            exporter?: "none" | "otlp" | undefined;
            endpoint?: string | undefined;
        } | undefined;
    }>;
    ingest: z.ZodDefault<z.ZodObject<{
        jpegQuality: z.ZodDefault<z.ZodNumber>;
        maxWidth: z.ZodDefault<z.ZodNumber>;
        liveSampleFps: z.ZodDefault<z.ZodNumber>;
        connectTimeoutMs: z.ZodDefault<z.ZodNumber>;
        readTimeoutMs: z.ZodDefault<z.ZodNumber>;
        reconnectInitialMs: z.ZodDefault<z.ZodNumber>;
        reconnectMaxMs: z.ZodDefault<z.ZodNumber>;
    }, "strict", z.ZodTypeAny, {
        jpegQuality: number;
        maxWidth: number;
        liveSampleFps: number;
        connectTimeoutMs: number;
        readTimeoutMs: number;
        reconnectInitialMs: number;
        reconnectMaxMs: number;
    }, {
        jpegQuality?: number | undefined;
        maxWidth?: number | undefined;
        liveSampleFps?: number | undefined;
        connectTimeoutMs?: number | undefined;
        readTimeoutMs?: number | undefined;
        reconnectInitialMs?: number | undefined;
        reconnectMaxMs?: number | undefined;
    }>>;
}, "strict", z.ZodTypeAny, {
    runtime: {
        bus: "kafka" | "memory";
        topicPrefix: string;
        delivery: "at-least-once" | "exactly-once";
        instanceId: string;
        maxBatchSize: number;
        opsPort: number;
        opsHost: string;
        shutdownGraceMs: number;
        sessionTimeoutMs: number;
        tracing: {
            exporter: "none" | "otlp";
            endpoint?: string | undefined;
        };
        kafka?: {
            brokers: string;
            clientId: string;
            ssl: {
                enabled: boolean;
                rejectUnauthorized: boolean;
                caFile?: string | undefined;
            };
            sasl: {
                mechanism: "none";
            } | {
                password: string;
                mechanism: "plain";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            };
        } | undefined;
    };
    ingest: {
        jpegQuality: number;
        maxWidth: number;
        liveSampleFps: number;
        connectTimeoutMs: number;
        readTimeoutMs: number;
        reconnectInitialMs: number;
        reconnectMaxMs: number;
    };
}, {
    runtime: {
        kafka?: {
            brokers: string;
            clientId?: string | undefined;
            ssl?: {
                enabled?: unknown;
                caFile?: string | undefined;
                rejectUnauthorized?: unknown;
            } | undefined;
            sasl?: {
                mechanism: "none";
            } | {
                password: string;
                mechanism: "plain";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-256";
                username: string;
            } | {
                password: string;
                mechanism: "scram-sha-512";
                username: string;
            } | undefined;
        } | undefined;
        bus?: "kafka" | "memory" | undefined;
        topicPrefix?: string | undefined;
        delivery?: "at-least-once" | "exactly-once" | undefined;
        instanceId?: string | undefined;
        maxBatchSize?: number | undefined;
        opsPort?: number | undefined;
        opsHost?: string | undefined;
        shutdownGraceMs?: number | undefined;
        sessionTimeoutMs?: number | undefined;
        tracing?: {
            exporter?: "none" | "otlp" | undefined;
            endpoint?: string | undefined;
        } | undefined;
    };
    ingest?: {
        jpegQuality?: number | undefined;
        maxWidth?: number | undefined;
        liveSampleFps?: number | undefined;
        connectTimeoutMs?: number | undefined;
        readTimeoutMs?: number | undefined;
        reconnectInitialMs?: number | undefined;
        reconnectMaxMs?: number | undefined;
    } | undefined;
}>;
export type IngestConfig = z.infer<typeof ingestConfigSchema>;
export declare const ingestEnvBindings: EnvBinding[];
