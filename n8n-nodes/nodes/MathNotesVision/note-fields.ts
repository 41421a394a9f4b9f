import type { IDataObject } from 'n8n-workflow';

import { splitList } from '../shared/text';

/** The "Notes Library" options of the analyze call, as the node's Options collection holds them. */
export interface NoteOptions {
	save?: boolean;
	title?: string;
	tags?: string | string[];
	noteSource?: string;
	keepImage?: boolean;
}

/**
 * The notes-library fields of `POST /api/vision/analyze`: `source` always (`n8n` unless the option says
 * otherwise), `save` / `keep_image` only when switched off, `title` and `tags` only when given (comma-separated
 * text, or a list from an expression). The API validates them (title ≤ 200 chars, ≤ 20 tags of ≤ 40 chars).
 */
export function noteFields(options: NoteOptions): IDataObject {
	const fields: IDataObject = { source: options.noteSource || 'n8n' };
	if (options.save === false) fields.save = false;
	if (options.keepImage === false) fields.keep_image = false;
	const title = String(options.title ?? '').trim();
	if (title) fields.title = title;
	const tags = Array.isArray(options.tags)
		? options.tags.map((tag) => String(tag).trim()).filter((tag) => tag.length > 0)
		: splitList(String(options.tags ?? ''));
	if (tags.length > 0) fields.tags = tags;
	return fields;
}
