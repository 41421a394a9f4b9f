import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

/**
 * Base URL and bearer key of a Math Notes Suite deployment. One credential serves both the
 * vision API and the ingest API when they sit behind the same nginx (`/api/vision`, `/api/ingest`).
 */
export class MathNotesApi implements ICredentialType {
	name = 'mathNotesApi';

	displayName = 'Math Notes API';

	icon: Icon = { light: 'file:../icons/mathnotes.svg', dark: 'file:../icons/mathnotes.dark.svg' };

	documentationUrl = 'https://github.com/mathnotes-suite/mathnotes/tree/main/n8n-nodes#credentials';

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'http://localhost:3001',
			placeholder: 'https://notes.example.com',
			description:
				'Where the Math Notes APIs answer: the nginx front door, or a service directly (vision :3001, ingest :3002)',
			required: true,
		},
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'Bearer key from VISION_API_KEYS / INGEST_API_KEYS; leave empty when the API is open',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				Authorization: '={{ $credentials.apiKey ? "Bearer " + $credentials.apiKey : "" }}',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{ $credentials.baseUrl.replace(/\\/+$/, "") }}',
			url: '/health',
			method: 'GET',
		},
	};
}
