import type {
	IDataObject,
	INode,
	IExecuteFunctions,
	IHttpRequestMethods,
	IHttpRequestOptions,
	JsonObject,
} from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

export const CREDENTIAL = 'mathNotesApi';

/** The error body every Math Notes API answers with: `{"error": {"code", "message", "request_id"}}`. */
export interface MathNotesErrorBody {
	error?: { code?: string; message?: string; request_id?: string; details?: unknown };
}

export interface MathNotesCall {
	method: IHttpRequestMethods;
	path: string;
	body?: IDataObject | IDataObject[];
	qs?: IDataObject;
	timeout?: number;
}

export interface MathNotesErrorInfo {
	code: string;
	message: string;
	status?: number;
	requestId?: string;
	details?: unknown;
}

/** The code, message, status and request id of a failed call, for "continue on fail" items. */
export function errorInfo(error: unknown): MathNotesErrorInfo {
	const err = error as { message?: string; httpCode?: string | null; context?: IDataObject };
	const context = err.context ?? {};
	return {
		code: typeof context.code === 'string' ? context.code : 'node_error',
		message: err.message ?? String(error),
		status: err.httpCode ? Number(err.httpCode) : undefined,
		requestId: typeof context.requestId === 'string' ? context.requestId : undefined,
		details: context.details,
	};
}

function joinUrl(baseUrl: unknown, path: string): string {
	return `${String(baseUrl ?? '').replace(/\/+$/, '')}${path}`;
}

/**
 * One authenticated call to a Math Notes API. Answers with status >= 400 become a
 * `NodeApiError` whose message starts with the API's error code and whose `context`
 * carries `code`, `requestId` and `details`; a network failure becomes one with code `unreachable`.
 */
export async function mathNotesRequest(
	this: IExecuteFunctions,
	itemIndex: number,
	call: MathNotesCall,
): Promise<IDataObject> {
	const credentials = await this.getCredentials(CREDENTIAL, itemIndex);
	const options: IHttpRequestOptions = {
		method: call.method,
		url: joinUrl(credentials.baseUrl, call.path),
		body: call.body,
		qs: call.qs,
		json: true,
		returnFullResponse: true,
		ignoreHttpStatusErrors: true,
		timeout: call.timeout,
	};
	let response: { statusCode: number; body: unknown };
	try {
		response = await this.helpers.httpRequestWithAuthentication.call(this, CREDENTIAL, options);
	} catch (error) {
		// only the message: with the socket error's `code` (ECONNREFUSED…) n8n would replace our message
		const cause = error as Error & { code?: string };
		const apiError = new NodeApiError(this.getNode(), { message: cause.message } as JsonObject, {
			itemIndex,
			message: `unreachable: the Math Notes API at ${options.url} did not answer`,
			description: [cause.code, cause.message].filter(Boolean).join(': '),
		});
		apiError.context.code = 'unreachable';
		throw apiError;
	}
	const { statusCode, body } = response;
	if (statusCode >= 400) {
		const parsed = typeof body === 'string' ? safeJson(body) : body;
		const err = (parsed as MathNotesErrorBody | undefined)?.error ?? {};
		const code = err.code ?? `http_${statusCode}`;
		const message = err.message ?? (typeof body === 'string' ? body.slice(0, 200) : 'request failed');
		const apiError = new NodeApiError(
			this.getNode(),
			(parsed && typeof parsed === 'object' ? parsed : { body: String(body) }) as JsonObject,
			{
				itemIndex,
				httpCode: String(statusCode),
				message: `${code}: ${message}`,
				description: err.request_id ? `request id ${err.request_id}` : undefined,
			},
		);
		apiError.context.code = code;
		apiError.context.requestId = err.request_id;
		apiError.context.details = err.details as IDataObject;
		throw apiError;
	}
	return (typeof body === 'string' ? safeJson(body) ?? { body } : body) as IDataObject;
}

function safeJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

/** The error to throw from a node: n8n's own errors as they are, anything else as a NodeOperationError. */
export function asNodeError(node: INode, error: unknown, itemIndex: number): NodeApiError | NodeOperationError {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	return new NodeOperationError(node, error as Error, { itemIndex });
}

/**
 * The item a node outputs for a failed call under "continue on fail": `{error: {code, message, status,
 * request_id, details}, message}`, the API's own error shape. n8n routes exactly this two-key form to the
 * node's error output when "On Error" is "Continue (using error output)".
 */
export function errorItem(error: unknown, fallbackCode = 'node_error'): IDataObject {
	const info = errorInfo(error);
	const code = info.code === 'node_error' ? fallbackCode : info.code;
	return {
		error: {
			code,
			message: info.message,
			status: info.status ?? null,
			request_id: info.requestId ?? null,
			details: (info.details ?? null) as IDataObject,
		},
		message: info.message,
	};
}
