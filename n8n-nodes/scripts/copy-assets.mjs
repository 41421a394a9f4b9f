// Copies what tsc does not: node icons (SVG) and codex files (<Name>.node.json) into dist/.
import { cpSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir) {
	for (const name of readdirSync(dir)) {
		const path = join(dir, name);
		if (statSync(path).isDirectory()) walk(path);
		else if (name.endsWith('.svg') || name.endsWith('.png') || name.endsWith('.node.json')) {
			const target = join(root, 'dist', relative(root, path));
			mkdirSync(dirname(target), { recursive: true });
			cpSync(path, target);
		}
	}
}

for (const dir of ['nodes', 'credentials', 'icons']) walk(join(root, dir));
