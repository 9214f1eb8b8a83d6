/** A one-line reason for a driver error; some (AggregateError from a refused dual-stack connect) have no message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    if (error.message !== '') return error.message;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (error instanceof AggregateError) {
      const first: unknown = error.errors[0];
      if (first !== undefined) return describeError(first);
    }
    return error.name;
  }
  return String(error);
}
