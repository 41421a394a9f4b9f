// Markdown with math: markdown-it (raw HTML off) plus a small plugin that hands
// $…$, $$…$$, \(…\), \[…\] and \begin{align}… to KaTeX. Re-rendered as text streams in;
// a display formula still being written shows as its source until it closes.

const ENVS = "equation|align|alignat|gather|multline|eqnarray|flalign|split|cases|aligned|gathered";
const BEGIN_ENV = new RegExp(`^\\\\begin\\{(${ENVS})(\\*?)\\}`);
const cache = new Map();

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** KaTeX HTML for one formula (memoised: a streamed answer re-renders the same formulas). */
export function mathHtml(tex, display) {
  const key = (display ? "D" : "I") + tex;
  let html = cache.get(key);
  if (html === undefined) {
    const katex = globalThis.katex;
    html = katex
      ? katex.renderToString(tex, { displayMode: display, throwOnError: false, strict: "ignore", trust: false,
        output: "htmlAndMathml" })
      : `<code class="math-source">${escapeHtml(tex)}</code>`;
    if (cache.size > 500) cache.clear();
    cache.set(key, html);
  }
  return html;
}

function mathInline(state, silent) {
  const { src, pos } = state;
  let open;
  let close;
  let display = false;
  if (src.startsWith("$$", pos)) [open, close, display] = ["$$", "$$", true];
  else if (src[pos] === "$") [open, close] = ["$", "$"];
  else if (src.startsWith("\\(", pos)) [open, close] = ["\\(", "\\)"];
  else if (src.startsWith("\\[", pos)) [open, close, display] = ["\\[", "\\]", true];
  else return false;
  const start = pos + open.length;
  let end = start;
  for (;;) {
    end = src.indexOf(close, end);
    if (end < 0) return false;
    if (close === "$" && src[end - 1] === "\\") {
      end += 1;
      continue;
    }
    break;
  }
  const content = src.slice(start, end);
  if (!content.trim()) return false;
  if (open === "$" && (/^\s/.test(content) || /\s$/.test(content) || /\d/.test(src[end + 1] || ""))) return false;
  if (!silent) {
    const token = state.push("math_inline", "math", 0);
    token.content = content;
    token.markup = open;
    token.meta = { display };
  }
  state.pos = end + close.length;
  return true;
}

function mathBlock(state, startLine, endLine, silent) {
  const first = state.src.slice(state.bMarks[startLine] + state.tShift[startLine], state.eMarks[startLine]);
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;
  let close;
  let body;
  let keep = false; // environments keep their \begin…\end for KaTeX
  const env = first.match(BEGIN_ENV);
  if (first.startsWith("$$")) [close, body] = ["$$", first.slice(2)];
  else if (first.startsWith("\\[")) [close, body] = ["\\]", first.slice(2)];
  else if (env) [close, body, keep] = [`\\end{${env[1]}${env[2]}}`, first, true];
  else return false;

  const lines = [];
  let line = startLine;
  let found = false;
  let text = body;
  for (;;) {
    const at = text.indexOf(close);
    if (at >= 0) {
      const after = text.slice(at + close.length).trim();
      if (after && line === startLine) return false; // "$$a$$ and more": leave it to the inline rule
      lines.push(keep ? text.slice(0, at + close.length) : text.slice(0, at));
      found = true;
      break;
    }
    lines.push(text);
    line += 1;
    if (line >= endLine) break;
    text = state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]);
  }
  if (silent) return true;
  state.line = found ? line + 1 : line;
  const token = state.push(found ? "math_block" : "math_pending", "math", 0);
  token.block = true;
  token.content = lines.join("\n").trim();
  token.map = [startLine, state.line];
  token.markup = close;
  return true;
}

/** The markdown-it plugin. */
export function mathPlugin(md) {
  md.inline.ruler.before("escape", "math_inline", mathInline);
  md.block.ruler.before("fence", "math_block", mathBlock, { alt: ["paragraph", "reference", "blockquote", "list"] });
  md.renderer.rules.math_inline = (tokens, i) => mathHtml(tokens[i].content, tokens[i].meta.display);
  md.renderer.rules.math_block = (tokens, i) => `<div class="math-display">${mathHtml(tokens[i].content, true)}</div>\n`;
  md.renderer.rules.math_pending = (tokens, i) => `<pre class="math-pending">${escapeHtml(tokens[i].content)}</pre>\n`;
}

let md = null;

/** HTML for a (possibly partial) Markdown answer. Raw HTML in the answer is shown as text. */
export function renderMarkdown(markdown) {
  if (!md) {
    const markdownit = globalThis.markdownit;
    if (!markdownit) return `<pre>${escapeHtml(markdown)}</pre>`;
    md = markdownit({ html: false, linkify: false, typographer: false, breaks: false }).use(mathPlugin);
  }
  return md.render(markdown);
}

/** The formulas of an answer, one per line, for "Copy LaTeX" when the API sent none. */
export function latexOf(markdown) {
  const found = [];
  const re = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$])\$([^\s$](?:[^$\n]|\\\$)*?)\$/g;
  for (const m of markdown.matchAll(re)) {
    const tex = (m[1] ?? m[2] ?? m[3] ?? m[4]).trim();
    if (tex && !found.includes(tex)) found.push(tex);
  }
  return found;
}
