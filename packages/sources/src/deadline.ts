/** Thrown by withDeadline when the time is up. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/**
 * The one deadline helper of the sources: settles like `promise`, or rejects
 * with DeadlineError(`message`) after `ms`, and leaves no timer behind either
 * way. (AbortSignal.timeout would leave its timer running until it fires.)
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, message = `no answer within ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineError(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for `promise` at most `ms`, whatever its outcome (for shutdowns and best-effort waits). */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  await withDeadline(promise, ms).then(
    () => undefined,
    () => undefined,
  );
}
