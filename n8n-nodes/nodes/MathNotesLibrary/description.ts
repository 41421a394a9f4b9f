import type { INodeProperties } from 'n8n-workflow';

import { PAGE_LIMIT } from './notes';

const TASKS = [
	{ name: 'Check', value: 'check' },
	{ name: 'Describe', value: 'describe' },
	{ name: 'Explain', value: 'explain' },
	{ name: 'Solve', value: 'solve' },
	{ name: 'Transcribe', value: 'transcribe' },
];

const onlyFor = (...operation: string[]) => ({ show: { resource: ['note'], operation } });

/** The Library node's parameters: resource `note`, operations search / get / delete (n8n's convention). */
export const libraryProperties: INodeProperties[] = [
	{
		displayName: 'Resource',
		name: 'resource',
		type: 'options',
		noDataExpression: true,
		options: [{ name: 'Note', value: 'note' }],
		default: 'note',
	},
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { resource: ['note'] } },
		options: [
			{
				name: 'Delete',
				value: 'delete',
				description: 'Delete a note',
				action: 'Delete a note',
			},
			{
				name: 'Get',
				value: 'get',
				description: 'Get a note with its whole answer (Markdown, formulas, problems)',
				action: 'Get a note',
			},
			{
				name: 'Search',
				value: 'search',
				description:
					'Search notes by words, formula (LaTeX) or meaning; newest first without a query',
				action: 'Search notes',
			},
		],
		default: 'search',
	},
	{
		displayName: 'Note ID',
		name: 'noteId',
		type: 'string',
		default: '',
		required: true,
		placeholder: '3f2b9c0e6d1a4b7f8e5c2a9d0b1c4e7f',
		description: 'The ID of the note, as an analyze answer (note_id) or a search result gives it',
		displayOptions: onlyFor('get', 'delete'),
	},
	{
		displayName: 'Words',
		name: 'query',
		type: 'string',
		default: '',
		placeholder: 'integration by parts',
		description: 'Words to look for, in any language (Chinese is matched by characters)',
		displayOptions: onlyFor('search'),
	},
	{
		displayName: 'Formula',
		name: 'formula',
		type: 'string',
		default: '',
		placeholder: '\\int_0^1 x^2 dx',
		description:
			'A LaTeX formula; notes whose formulas match after normalisation (spacing, \\dfrac, bound variables) rank first',
		displayOptions: onlyFor('search'),
	},
	{
		displayName: 'Return All',
		name: 'returnAll',
		type: 'boolean',
		default: false,
		description: 'Whether to return all results or only up to a given limit',
		displayOptions: onlyFor('search'),
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: PAGE_LIMIT },
		default: 50,
		description: 'Max number of results to return',
		displayOptions: { show: { resource: ['note'], operation: ['search'], returnAll: [false] } },
	},
	{
		displayName: 'Filters',
		name: 'filters',
		type: 'collection',
		placeholder: 'Add Filter',
		default: {},
		displayOptions: onlyFor('search'),
		options: [
			{
				displayName: 'Created After',
				name: 'since',
				type: 'dateTime',
				default: '',
				description:
					'Only notes created at or after this time (UTC unless the time says otherwise)',
			},
			{
				displayName: 'Created Before',
				name: 'until',
				type: 'dateTime',
				default: '',
				description: 'Only notes created before this time',
			},
			{
				displayName: 'Mode',
				name: 'mode',
				type: 'options',
				options: [
					{ name: 'Auto', value: 'auto', description: 'Every mode that applies, fused' },
					{ name: 'Formula', value: 'formula', description: 'Only the formula match' },
					{
						name: 'Meaning',
						value: 'meaning',
						description: 'Only the embedding match (when configured)',
					},
					{ name: 'Words', value: 'words', description: 'Only the full-text match' },
				],
				default: 'auto',
			},
			{
				displayName: 'Tag',
				name: 'tag',
				type: 'string',
				default: '',
				description: 'Only notes with this tag',
			},
			{
				displayName: 'Task',
				name: 'task',
				type: 'options',
				options: TASKS,
				default: 'transcribe',
				description: 'Only notes made by this task',
			},
		],
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: { resource: ['note'] } },
		options: [
			{
				displayName: 'Timeout (Ms)',
				name: 'timeout',
				type: 'number',
				typeOptions: { minValue: 1000 },
				default: 30000,
				description: 'How long to wait for each answer of the API',
			},
		],
	},
];
