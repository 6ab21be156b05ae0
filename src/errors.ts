import { STATUS_CODES, type ServerResponse } from 'node:http';

/** Every error the proxy answers with itself, and its HTTP status. */
export const errorStatus = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  unknown_function: 404,
  method_not_allowed: 405,
  body_timeout: 408,
  body_too_large: 413,
  headers_too_large: 431,
  worker_failed: 502,
  queue_full: 503,
  queue_timeout: 503,
  no_healthy_worker: 503,
  shutting_down: 503,
  worker_timeout: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** Writes `{"error": {"code", "message"}}` with the code's status, unless the response has already begun. */
export function sendError(res: ServerResponse, code: ErrorCode, message: string, headers?: Record<string, string | number>): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(code, message));
  res.writeHead(errorStatus[code], {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers?: Record<string, string | number>): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** The body of an error answer, `{"error": {"code", "message"}}`. */
export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}

/** The answer to a request Node's parser refused (or a head that did not arrive in time): 400, 431 for huge headers; the connection closes after it. */
export function clientErrorAnswer(code: string): string {
  return code === 'HPE_HEADER_OVERFLOW'
    ? closingErrorAnswer('headers_too_large', 'request headers exceed the 16 KiB limit')
    : closingErrorAnswer('bad_request', `malformed HTTP request (${code})`);
}

/** A whole error answer as the bytes of an HTTP/1.1 response, for a connection that closes after it (no request read, or none readable). */
export function closingErrorAnswer(code: ErrorCode, message: string, headers?: Record<string, string | number>): string {
  const status = errorStatus[code];
  const body = JSON.stringify(errorBody(code, message));
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status]!}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  if (headers !== undefined) for (const name in headers) text += `${name}: ${headers[name]!}\r\n`;
  return `${text}connection: close\r\n\r\n${body}`;
}
