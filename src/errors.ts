/** Bad input from the user: exit 2. The message is one line that says what to fix. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A program virtsnap ran failed: exit 1. Carries the program's own stderr. */
export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    message: string,
    readonly program: string,
    readonly stderr: string,
    readonly exitCode: number | undefined,
  ) {
    super(message);
  }
}

/** Something went wrong that is not a bug and not bad input (I/O, state of the domain): exit 1. */
export class OperationError extends Error {
  override name = "OperationError";
}

/** Another run holds the domain's lock: exit 75 (EX_TEMPFAIL), so cron can simply retry later. */
export class LockedError extends Error {
  override name = "LockedError";
}

export const EXIT = { ok: 0, failure: 1, usage: 2, partial: 3, locked: 75 } as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof LockedError) return EXIT.locked;
  return EXIT.failure;
}

export function isExpected(error: unknown): boolean {
  return (
    error instanceof UsageError ||
    error instanceof CommandError ||
    error instanceof OperationError ||
    error instanceof LockedError
  );
}

/** Node's own I/O errors (ENOSPC, EACCES, ...) become one readable line. */
export function describeIoError(error: unknown, what: string): OperationError {
  const err = error as NodeJS.ErrnoException;
  const reason = err.code ? `${err.code}: ${err.message.replace(/^\w+: /, "")}` : String(error);
  return new OperationError(`${what}: ${reason}`);
}
