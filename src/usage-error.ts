/** Bad command-line input, for warmroute's and pipbench's commands alike: a message and exit code 2, never a stack trace. */
export class UsageError extends Error {
  readonly exitCode: number = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
