// A fatal problem in emqx.conf or an EMQX_* variable. The message is meant for the person editing
// the file, so it always says where (file:line or the variable name), which key, and what was
// expected; main.ts prints it as-is and exits.
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Thrown by the value parsers in values.ts. Its message completes the sentence "expected ...";
 * schema.ts catches it and adds where, key and the offending value, which the parsers don't know.
 */
export class Expected extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'Expected';
  }
}
