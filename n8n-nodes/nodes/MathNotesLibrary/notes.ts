import type { IDataObject } from 'n8n-workflow';

/** Notes per page the API serves at most (`limit` 1..100 of `GET /api/notes`). */
export const PAGE_LIMIT = 100;

/** Pages "Return All" follows at most: 10,000 notes, so a cursor that never ends cannot loop forever. */
export const MAX_PAGES = 100;

/** A note id as the API makes them: 32 lowercase hex digits (uuid4 hex). */
const NOTE_ID = /^[0-9a-f]{32}$/;

export interface SearchFilters {
	mode?: string;
	tag?: string;
	task?: string;
	since?: unknown;
	until?: unknown;
}

export interface SearchInput {
	query: string;
	formula: string;
	filters: SearchFilters;
	limit: number;
}

/**
 * A time for `since`/`until`: n8n's date picker gives `2026-05-04T00:00:00` (read as UTC by the API), an
 * expression may give a Luxon DateTime or a JS Date (sent as ISO 8601) or epoch seconds; empty gives nothing.
 */
export function toTime(value: unknown): string | undefined {
	if (value === undefined || value === null || value === '') return undefined;
	if (typeof value === 'number') {
		if (!Number.isFinite(value)) throw new Error(`${value} is not a time`);
		return String(value);
	}
	if (typeof value === 'string') return value.trim() || undefined;
	if (value instanceof Date) {
		if (Number.isNaN(value.getTime())) throw new Error('the date is invalid');
		return value.toISOString();
	}
	const luxon = value as { toISO?: () => string | null };
	if (typeof luxon.toISO === 'function') {
		const iso = luxon.toISO();
		if (!iso) throw new Error('the date is invalid');
		return iso;
	}
	throw new Error(`${JSON.stringify(value)} is not a time (ISO 8601 or epoch seconds)`);
}

/** The query string of one `GET /api/notes` page: empty settings are left out, the API's defaults apply. */
export function searchQuery(input: SearchInput, cursor?: string): IDataObject {
	const qs: IDataObject = {};
	const query = input.query.trim();
	const formula = input.formula.trim();
	if (query) qs.q = query;
	if (formula) qs.formula = formula;
	const { mode, tag, task } = input.filters;
	if (mode && mode !== 'auto') qs.mode = mode;
	if (tag && tag.trim()) qs.tag = tag.trim();
	if (task) qs.task = task;
	const since = toTime(input.filters.since);
	const until = toTime(input.filters.until);
	if (since) qs.since = since;
	if (until) qs.until = until;
	const limit = Math.trunc(input.limit);
	if (!(limit >= 1 && limit <= PAGE_LIMIT))
		throw new Error(`limit must be 1 to ${PAGE_LIMIT}, not ${input.limit}`);
	qs.limit = limit;
	if (cursor) qs.cursor = cursor;
	return qs;
}

/** The note id as typed (spaces trimmed), or an Error naming the expected form. */
export function noteId(value: unknown): string {
	const id = String(value ?? '')
		.trim()
		.toLowerCase();
	if (!NOTE_ID.test(id)) {
		throw new Error(
			`"${String(value ?? '').slice(0, 80)}" is not a note id (32 hex digits, as note_id / id give it)`,
		);
	}
	return id;
}
