import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { asNodeError, CREDENTIAL, errorItem, mathNotesRequest } from '../shared/transport';
import type { Envelope } from './points';
import { parseTagPairs, toEnvelope } from './points';
import { splitList } from '../shared/text';

interface TelemetryOptions {
	extraTags?: string;
	timestampProperty?: string;
	timeout?: number;
}

export class MathNotesTelemetry implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Math Notes Telemetry',
		name: 'mathNotesTelemetry',
		icon: { light: 'file:../../icons/telemetry.svg', dark: 'file:../../icons/telemetry.dark.svg' },
		group: ['output'],
		version: 1,
		subtitle: '={{ "write to " + $parameter["measurement"] }}',
		description: 'Write the incoming items as telemetry points through the Math Notes ingest API',
		defaults: {
			name: 'Math Notes Telemetry',
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
				displayName: 'Measurement',
				name: 'measurement',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'weather',
				description: 'Measurement name of the points; an expression may differ per item',
			},
			{
				displayName: 'Fields',
				name: 'fieldMode',
				type: 'options',
				options: [
					{
						name: 'All Numeric Properties',
						value: 'auto',
						description: 'Every number and boolean of the item (nested keys joined with _)',
					},
					{
						name: 'Selected Properties',
						value: 'selected',
						description: 'Only the listed properties',
					},
				],
				default: 'auto',
			},
			{
				displayName: 'Field Names',
				name: 'fieldNames',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'temperature, humidity',
				description: 'Comma-separated properties to write as fields',
				displayOptions: {
					show: {
						fieldMode: ['selected'],
					},
				},
			},
			{
				displayName: 'Tag Properties',
				name: 'tagNames',
				type: 'string',
				default: '',
				placeholder: 'site, device',
				description: 'Comma-separated properties of the item to write as tags',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Extra Tags',
						name: 'extraTags',
						type: 'string',
						default: '',
						placeholder: 'site=lab, source=n8n',
						description: 'Comma-separated key=value tags added to every point',
					},
					{
						displayName: 'Timeout (Ms)',
						name: 'timeout',
						type: 'number',
						typeOptions: { minValue: 1000 },
						default: 60000,
						description: 'How long to wait for the ingest API to accept the batch',
					},
					{
						displayName: 'Timestamp Property',
						name: 'timestampProperty',
						type: 'string',
						default: '',
						placeholder: 'ts',
						description:
							'Property holding the time (epoch s/ms/us/ns or RFC 3339); empty means the time of receipt',
					},
				],
			},
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const returnData: INodeExecutionData[] = [];
		const envelopes: Envelope[] = [];
		const sources: number[] = [];

		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const options = this.getNodeParameter('options', itemIndex, {}) as TelemetryOptions;
				const fieldMode = this.getNodeParameter('fieldMode', itemIndex) as 'auto' | 'selected';
				let extraTags: Record<string, string>;
				try {
					extraTags = parseTagPairs(options.extraTags ?? '');
				} catch (error) {
					throw new NodeOperationError(this.getNode(), (error as Error).message, { itemIndex });
				}
				const spec = {
					measurement: String(this.getNodeParameter('measurement', itemIndex) ?? ''),
					fieldMode,
					fieldNames:
						fieldMode === 'selected'
							? splitList(this.getNodeParameter('fieldNames', itemIndex) as string)
							: [],
					tagNames: splitList(this.getNodeParameter('tagNames', itemIndex, '') as string),
					extraTags,
					timestampProperty: (options.timestampProperty ?? '').trim(),
				};
				try {
					envelopes.push(toEnvelope(items[itemIndex].json, spec));
					sources.push(itemIndex);
				} catch (error) {
					throw new NodeOperationError(this.getNode(), `Item ${itemIndex}: ${(error as Error).message}`, {
						itemIndex,
					});
				}
			} catch (error) {
				if (this.continueOnFail()) {
					returnData.push({ json: errorItem(error, 'invalid_item'), pairedItem: { item: itemIndex } });
					continue;
				}
				throw asNodeError(this.getNode(), error, itemIndex);
			}
		}

		if (envelopes.length === 0) return [returnData];

		const first = sources[0];
		const options = this.getNodeParameter('options', first, {}) as TelemetryOptions;
		try {
			const answer: IDataObject = await mathNotesRequest.call(this, first, {
				method: 'POST',
				path: '/api/ingest',
				body: envelopes,
				timeout: options.timeout ?? 60000,
			});
			returnData.push({
				json: { ...answer, points: envelopes.length },
				pairedItem: sources.map((item) => ({ item })),
			});
		} catch (error) {
			if (!this.continueOnFail()) throw asNodeError(this.getNode(), error, first);
			returnData.push({ json: errorItem(error), pairedItem: sources.map((item) => ({ item })) });
		}
		return [returnData];
	}
}
