/** Exit codes shared by every `mha` command (documented in --help and the README). */
export const ExitCode = {
  OK: 0,
  USAGE: 1,
  BAD_INPUT: 2,
  NOT_FOUND: 3,
  FAILED: 4,
} as const;

/** An error that should end the command with a one-line message and a given exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
