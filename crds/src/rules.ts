import type { z } from 'zod';

/**
 * A validation rule stated once and enforced twice: by the apiserver as a
 * CEL `x-kubernetes-validations` entry in the generated CRD, and by zod when
 * our own code parses an object. Both report the same message, so a user
 * sees the same words from `kubectl apply` and from the agent's logs.
 */
export interface Rule<T> {
  /** CEL expression over `self`, evaluated by the apiserver. */
  cel: string;
  /** The same predicate in TypeScript. */
  check: (value: T) => boolean;
  message: string;
  /** JSONPath (relative to `self`) of the field the message is about. */
  fieldPath?: string;
  /** A transition rule: CEL that uses `oldSelf`; the zod check is skipped. */
  transition?: boolean;
}

interface CelValidation {
  rule: string;
  message: string;
  fieldPath?: string;
}

function celValidations(meta: Record<string, unknown> | undefined): CelValidation[] {
  const existing = meta?.['x-kubernetes-validations'];
  return Array.isArray(existing) ? (existing as CelValidation[]) : [];
}

/** Attaches rules to a schema; see {@link Rule}. */
export function withRules<S extends z.ZodType>(schema: S, rules: Rule<z.output<S>>[]): S {
  let out = schema;
  for (const r of rules) {
    if (!r.transition) {
      const path = r.fieldPath ? r.fieldPath.replace(/^\./, '').split('.') : [];
      out = out.refine(r.check, { message: r.message, path }) as S;
    }
  }
  const meta = schema.meta();
  const validations = [
    ...celValidations(meta),
    ...rules.map((r) => ({
      rule: r.cel,
      message: r.message,
      ...(r.fieldPath ? { fieldPath: r.fieldPath } : {}),
    })),
  ];
  return out.meta({ ...meta, 'x-kubernetes-validations': validations }) as S;
}
