// Errors that cross module boundaries carry an EMQX-style code and an HTTP status, so the API's
// error middleware can answer {code, message} without knowing which service threw.
export class TernError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'TernError';
  }
}

export const notFound = (code: string, message: string) => new TernError(code, message, 404);
export const alreadyExists = (message: string) => new TernError('ALREADY_EXISTS', message, 409);
export const badRequest = (message: string) => new TernError('BAD_REQUEST', message, 400);
