import type { IDataObject } from 'n8n-workflow';

import { splitList } from '../shared/text';

/** One point for `POST /api/ingest`: the telemetry envelope with its measurement. */
export interface Envelope extends IDataObject {
	measurement: string;
	fields: IDataObject;
	tags: IDataObject;
	ts?: number | string;
}

export interface PointSpec {
	measurement: string;
	fieldMode: 'auto' | 'selected';
	fieldNames: string[];
	tagNames: string[];
	extraTags: Record<string, string>;
	timestampProperty: string;
}

/** `site=lab, room=2` → `{site: 'lab', room: '2'}`; throws on an entry without `=`. */
export function parseTagPairs(text: string): Record<string, string> {
	const tags: Record<string, string> = {};
	for (const pair of splitList(text)) {
		const eq = pair.indexOf('=');
		if (eq <= 0 || eq === pair.length - 1) throw new Error(`extra tag "${pair}" is not key=value`);
		tags[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
	}
	return tags;
}

/** Nested objects flattened with `_` (as Telegraf's JSON parser does); arrays and nulls are skipped. */
export function flatten(value: IDataObject, prefix = '', out: IDataObject = {}): IDataObject {
	for (const [key, inner] of Object.entries(value)) {
		const name = prefix ? `${prefix}_${key}` : key;
		if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
			flatten(inner as IDataObject, name, out);
		} else if (inner !== null && inner !== undefined && !Array.isArray(inner)) {
			out[name] = inner;
		}
	}
	return out;
}

function isFieldValue(value: unknown): value is number | boolean | string {
	return (
		(typeof value === 'number' && Number.isFinite(value)) ||
		typeof value === 'boolean' ||
		typeof value === 'string'
	);
}

/** The envelope for one item's JSON, or an Error saying why the item makes no point. */
export function toEnvelope(json: IDataObject, spec: PointSpec): Envelope {
	const flat = flatten(json);
	const skip = new Set([...spec.tagNames, spec.timestampProperty, 'measurement', 'ts']);
	const fields: IDataObject = {};
	if (spec.fieldMode === 'selected') {
		for (const name of spec.fieldNames) {
			const value = flat[name];
			if (value === undefined) throw new Error(`the item has no property "${name}"`);
			if (!isFieldValue(value)) throw new Error(`property "${name}" is not a number, boolean or string`);
			fields[name] = value;
		}
	} else {
		for (const [name, value] of Object.entries(flat)) {
			if (skip.has(name)) continue;
			if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') {
				fields[name] = value;
			}
		}
	}
	if (Object.keys(fields).length === 0) {
		throw new Error('the item has no numeric or boolean properties to write as fields');
	}
	const tags: IDataObject = { ...spec.extraTags };
	for (const name of spec.tagNames) {
		const value = flat[name];
		if (value !== undefined && value !== '') tags[name] = String(value);
	}
	const measurement = spec.measurement.trim();
	if (!measurement) throw new Error('the measurement is empty');
	const envelope: Envelope = { measurement, fields, tags };
	if (spec.timestampProperty) {
		const ts = flat[spec.timestampProperty];
		if (typeof ts === 'number' || typeof ts === 'string') envelope.ts = ts;
		else if (ts !== undefined) throw new Error(`timestamp "${spec.timestampProperty}" is not a number or string`);
	}
	return envelope;
}
