import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { asNodeError, CREDENTIAL, errorItem, mathNotesRequest } from '../shared/transport';
import type { NoteOptions } from './note-fields';
import { noteFields } from './note-fields';

interface VisionOptions extends NoteOptions {
	format?: string;
	language?: string;
	prompt?: string;
	timeout?: number;
	useCache?: boolean;
}

export class MathNotesVision implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Math Notes Vision',
		name: 'mathNotesVision',
		icon: { light: 'file:../../icons/mathnotes.svg', dark: 'file:../../icons/mathnotes.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["task"] }}',
		description: 'Transcribe, solve, check or explain a photo of maths notes (Markdown with LaTeX)',
		defaults: {
			name: 'Math Notes Vision',
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
		properties: [
			{
				displayName: 'Image Source',
				name: 'source',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'Binary File',
						value: 'binary',
						description: 'A photo carried by the item (Webhook, Telegram, Email, Drive…)',
					},
					{
						name: 'URL',
						value: 'url',
						description: 'An https URL the vision service fetches',
					},
				],
				default: 'binary',
			},
			{
				displayName: 'Input Binary Field',
				name: 'binaryPropertyName',
				type: 'string',
				default: 'data',
				required: true,
				hint: 'The name of the input binary field containing the photo',
				displayOptions: {
					show: {
						source: ['binary'],
					},
				},
			},
			{
				displayName: 'Image URL',
				name: 'imageUrl',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'https://example.com/notes.jpg',
				displayOptions: {
					show: {
						source: ['url'],
					},
				},
			},
			{
				displayName: 'Task',
				name: 'task',
				type: 'options',
				options: [
					{
						name: 'Check',
						value: 'check',
						description: 'Check each step and mark mistakes',
					},
					{
						name: 'Describe',
						value: 'describe',
						description: 'Describe the page (diagrams, layout, content)',
					},
					{
						name: 'Explain',
						value: 'explain',
						description: 'Explain the method step by step',
					},
					{
						name: 'Solve',
						value: 'solve',
						description: 'Solve the problems on the page',
					},
					{
						name: 'Transcribe',
						value: 'transcribe',
						description: 'Transcribe the notes as Markdown with LaTeX',
					},
				],
				default: 'transcribe',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Format',
						name: 'format',
						type: 'options',
						options: [
							{ name: 'JSON', value: 'json', description: 'Structured problems, steps and verdicts' },
							{ name: 'Markdown', value: 'markdown', description: 'Markdown with $…$ LaTeX' },
						],
						default: 'markdown',
					},
					{
						displayName: 'Keep Image',
						name: 'keepImage',
						type: 'boolean',
						default: true,
						description: 'Whether the saved note keeps a small thumbnail of the page',
					},
					{
						displayName: 'Language',
						name: 'language',
						type: 'options',
						options: [
							{ name: 'Auto', value: 'auto' },
							{ name: 'Chinese', value: 'zh' },
							{ name: 'English', value: 'en' },
						],
						default: 'auto',
						description: 'Language of the answer',
					},
					{
						displayName: 'Note Source',
						name: 'noteSource',
						type: 'options',
						options: [
							{ name: 'API', value: 'api' },
							{ name: 'CLI', value: 'cli' },
							{ name: 'N8n', value: 'n8n' },
							{ name: 'Node-RED', value: 'nodered' },
							{ name: 'Open WebUI', value: 'openwebui' },
							{ name: 'Page', value: 'page' },
						],
						default: 'n8n',
						description: 'Where the saved note says the page came from',
					},
					{
						displayName: 'Note Tags',
						name: 'tags',
						type: 'string',
						default: '',
						placeholder: 'calculus, homework',
						description: 'Comma-separated tags of the saved note (at most 20, each at most 40 characters)',
					},
					{
						displayName: 'Note Title',
						name: 'title',
						type: 'string',
						default: '',
						description:
							'Title of the saved note (at most 200 characters); empty: the first heading or line of the answer',
					},
					{
						displayName: 'Prompt',
						name: 'prompt',
						type: 'string',
						typeOptions: { rows: 3 },
						default: '',
						description: 'Extra instructions for the model, e.g. "only problem 3"',
					},
					{
						displayName: 'Save to Library',
						name: 'save',
						type: 'boolean',
						default: true,
						description:
							'Whether to keep the answer as a note in the library (the answer then carries its note_id)',
					},
					{
						displayName: 'Timeout (Ms)',
						name: 'timeout',
						type: 'number',
						typeOptions: { minValue: 1000 },
						default: 180000,
						description: 'How long to wait for the answer',
					},
					{
						displayName: 'Use Cache',
						name: 'useCache',
						type: 'boolean',
						default: true,
						description: 'Whether a cached answer for the same photo and options may be returned',
					},
				],
			},
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const returnData: INodeExecutionData[] = [];

		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const source = this.getNodeParameter('source', itemIndex) as string;
				const task = this.getNodeParameter('task', itemIndex) as string;
				const options = this.getNodeParameter('options', itemIndex, {}) as VisionOptions;
				let image: string;
				if (source === 'url') {
					image = (this.getNodeParameter('imageUrl', itemIndex) as string).trim();
					if (!/^https?:\/\//i.test(image)) {
						throw new NodeOperationError(this.getNode(), `Image URL must start with http(s)://`, {
							itemIndex,
						});
					}
				} else {
					const property = this.getNodeParameter('binaryPropertyName', itemIndex) as string;
					const binary = this.helpers.assertBinaryData(itemIndex, property);
					const buffer = await this.helpers.getBinaryDataBuffer(itemIndex, property);
					const mime = binary.mimeType || 'application/octet-stream';
					image = `data:${mime};base64,${buffer.toString('base64')}`;
				}
				const body: IDataObject = {
					image,
					task,
					language: options.language ?? 'auto',
					format: options.format ?? 'markdown',
					...noteFields(options),
				};
				if (options.prompt) body.prompt = options.prompt;
				if (options.useCache === false) body.cache = false;
				const answer = await mathNotesRequest.call(this, itemIndex, {
					method: 'POST',
					path: '/api/vision/analyze',
					body,
					timeout: options.timeout ?? 180000,
				});
				returnData.push({ json: answer, pairedItem: { item: itemIndex } });
			} catch (error) {
				if (this.continueOnFail()) {
					returnData.push({ json: errorItem(error, 'invalid_input'), pairedItem: { item: itemIndex } });
					continue;
				}
				throw asNodeError(this.getNode(), error, itemIndex);
			}
		}

		return [returnData];
	}
}
