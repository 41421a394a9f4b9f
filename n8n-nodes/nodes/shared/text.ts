/** `a, b ,c` → `['a', 'b', 'c']`. */
export function splitList(text: string): string[] {
	return text
		.split(',')
		.map((part) => part.trim())
		.filter((part) => part.length > 0);
}
