// One closed set of refusal codes, each with its HTTP status. Handlers throw a BrokerError; the app's single onError
// renders `{ok:false, error:{code, message}}`. Callers branch on `code`, never on message text. A message never
// carries a token.

import { BROKER_ERROR_STATUS } from '../../shared/contract/broker-errors';
import type { BrokerErrorCode as ErrorCode } from '../../shared/contract/broker-errors';

export type { BrokerErrorCode as ErrorCode } from '../../shared/contract/broker-errors';
export { errorMessage } from '../../shared/errors';

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly status: (typeof BROKER_ERROR_STATUS)[ErrorCode];
  /** Seconds, for 429 and 503. */
  readonly retryAfter: number | undefined;
  /** The claim or config field that decided the refusal, for the audit record. */
  readonly field: string | undefined;
  /** What the operator sees in the audit row and the log when the caller is told less (`message`). */
  readonly detail: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { retryAfter?: number; field?: string; detail?: string } = {},
  ) {
    super(message);
    this.name = 'BrokerError';
    this.code = code;
    this.status = BROKER_ERROR_STATUS[code];
    this.retryAfter = opts.retryAfter;
    this.field = opts.field;
    this.detail = opts.detail;
  }
}

/** A bad config file, env variable or flag: one line naming the field, printed by main before it exits. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
