import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { asNodeError, CREDENTIAL, errorItem, mathNotesRequest } from '../shared/transport';
import { libraryProperties } from './description';
import type { SearchFilters } from './notes';
import { MAX_PAGES, noteId, PAGE_LIMIT, searchQuery } from './notes';

interface LibraryOptions {
	timeout?: number;
}

export class MathNotesLibrary implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Math Notes Library',
		name: 'mathNotesLibrary',
		icon: { light: 'file:../../icons/mathnotes.svg', dark: 'file:../../icons/mathnotes.dark.svg' },
		group: ['input'],
		version: 1,
		subtitle: '={{ $parameter["operation"] + ": " + $parameter["resource"] }}',
		description:
			'Search, read and delete the notes the Math Notes vision service keeps of every analysed page (by words, formula or meaning)',
		defaults: {
			name: 'Math Notes Library',
		},
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{
				name: CREDENTIAL,
				required: true,
			},
		],
		properties: libraryProperties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const returnData: INodeExecutionData[] = [];
		const operation = this.getNodeParameter('operation', 0) as string;

		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const options = this.getNodeParameter('options', itemIndex, {}) as LibraryOptions;
				const timeout = options.timeout ?? 30000;
				const paired = { item: itemIndex };
				if (operation === 'search') {
					for (const note of await searchNotes.call(this, itemIndex, timeout)) {
						returnData.push({ json: note, pairedItem: paired });
					}
					continue;
				}
				let id: string;
				try {
					id = noteId(this.getNodeParameter('noteId', itemIndex));
				} catch (error) {
					throw new NodeOperationError(this.getNode(), (error as Error).message, { itemIndex });
				}
				const path = `/api/notes/${id}`;
				if (operation === 'get') {
					const note = await mathNotesRequest.call(this, itemIndex, {
						method: 'GET',
						path,
						timeout,
					});
					returnData.push({ json: note, pairedItem: paired });
				} else if (operation === 'delete') {
					await mathNotesRequest.call(this, itemIndex, { method: 'DELETE', path, timeout });
					returnData.push({ json: { id, deleted: true }, pairedItem: paired });
				} else {
					throw new NodeOperationError(this.getNode(), `Unknown operation "${operation}"`, {
						itemIndex,
					});
				}
			} catch (error) {
				if (this.continueOnFail()) {
					returnData.push({
						json: errorItem(error, 'invalid_input'),
						pairedItem: { item: itemIndex },
					});
					continue;
				}
				throw asNodeError(this.getNode(), error, itemIndex);
			}
		}

		return [returnData];
	}
}

/** `GET /api/notes`, one page or (Return All) every page up to MAX_PAGES: the notes, best first. */
async function searchNotes(
	this: IExecuteFunctions,
	itemIndex: number,
	timeout: number,
): Promise<IDataObject[]> {
	const returnAll = this.getNodeParameter('returnAll', itemIndex, false) as boolean;
	const input = {
		query: String(this.getNodeParameter('query', itemIndex, '') ?? ''),
		formula: String(this.getNodeParameter('formula', itemIndex, '') ?? ''),
		filters: this.getNodeParameter('filters', itemIndex, {}) as SearchFilters,
		limit: returnAll ? PAGE_LIMIT : (this.getNodeParameter('limit', itemIndex, 50) as number),
	};
	const notes: IDataObject[] = [];
	let cursor: string | undefined;
	for (let page = 0; page < MAX_PAGES; page++) {
		let qs: IDataObject;
		try {
			qs = searchQuery(input, cursor);
		} catch (error) {
			throw new NodeOperationError(this.getNode(), (error as Error).message, { itemIndex });
		}
		const answer = await mathNotesRequest.call(this, itemIndex, {
			method: 'GET',
			path: '/api/notes',
			qs,
			timeout,
		});
		notes.push(...((answer.notes as IDataObject[] | undefined) ?? []));
		const next = answer.next_cursor;
		if (!returnAll || typeof next !== 'string' || !next || next === cursor) break;
		cursor = next;
	}
	return notes;
}
