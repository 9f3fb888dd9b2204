export const root: string;
export const KUSTOMIZE_VERSION: string;
export const STRIMZI_VERSION: string;
export function ensureKustomize(): string;
export function ensureStrimziCrds(): string;
