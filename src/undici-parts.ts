import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Client as UndiciClient, Dispatcher } from 'undici';

// Only the undici parts the proxy uses. undici's index also loads fetch, WebSocket, EventSource,
// the caches, the mocks and every interceptor: about 9 MiB more RSS in every process, for nothing
// the proxy calls (results/memory). undici is pinned to one version, so these paths hold;
// test/src/undici-parts.test.ts checks them against the index's own classes.
const require = createRequire(import.meta.url);

export const Client = require('undici/lib/dispatcher/client.js') as typeof UndiciClient;
export type Client = UndiciClient;
export const Agent = require('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;
export type Agent = UndiciAgent;

type RequestMethod = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
const apiRequest = require('undici/lib/api/api-request.js') as RequestMethod;

/** undici's `request` on one dispatcher: `origin` + `path`, answered with status, headers and a body stream. */
export function request(dispatcher: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return apiRequest.call(dispatcher, options);
}
