/**
 * Errors semantic-release reports as expected failures: it prints `code message`, then `details`
 * (Markdown), and calls the `fail` step. Same shape as @semantic-release/error, without the dependency.
 */
export class GateError extends Error {
  constructor(message, code, details) {
    super(message);
    this.name = "SemanticReleaseError";
    this.code = code;
    this.details = details;
    this.semanticRelease = true;
  }
}

export const codes = {
  blocked: "EGATEKEEPERBLOCKED",
  error: "EGATEKEEPERERROR",
  missing: "ENOGATEKEEPER",
  state: "EGATEKEEPERSTATE",
  integrity: "EGATEKEEPERINTEGRITY",
  credential: "EGATEKEEPERCREDENTIAL",
};
