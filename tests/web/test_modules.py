"""The page's pure modules run in the real browser (SSE parsing, Markdown + math, errors), and its assets
are all local (no CDN) and the vendored libraries match web/package.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests

from mathnotes.vision.web import STATIC

from .helpers import DESKTOP, OpenPage, run_module

ROOT = Path(__file__).resolve().parents[2]


def test_event_stream_parser_handles_any_split(open_page: OpenPage) -> None:
    page = open_page(viewport=DESKTOP)
    results = run_module(
        page,
        r"""
        const stream = ': keep-alive\r\nevent: delta\r\ndata: {"text":"$x^2$"}\r\n\r\n' +
          'event: delta\ndata: {"text":"\\u4e2d"}\n\n' +
          'event: answer\ndata: {"a":1,\ndata: "b":2}\n\n' +
          'data: tail-without-blank-line';
        const out = [];
        for (let cut = 0; cut <= stream.length; cut++) {
          const p = new sse.EventStreamParser();
          const events = [...p.push(stream.slice(0, cut)), ...p.push(stream.slice(cut))];
          const last = p.end();
          if (last) events.push(last);
          out.push(JSON.stringify(events));
        }
        return [...new Set(out)];
        """,
    )
    assert len(results) == 1, "the same events whatever the chunking"
    events = json.loads(results[0])
    assert events == [
        {"event": "delta", "data": '{"text":"$x^2$"}'},
        {"event": "delta", "data": '{"text":"\\u4e2d"}'},
        {"event": "answer", "data": '{"a":1,\n"b":2}'},
        {"event": "message", "data": "tail-without-blank-line"},
    ]


def test_markdown_is_rendered_safely_with_math(open_page: OpenPage) -> None:
    page = open_page(viewport=DESKTOP)
    html = run_module(
        page,
        r"""
        const r = (md) => render.renderMarkdown(md);
        return {
          xss: r('<img src=x onerror="window.pwned=1"> [link](javascript:alert(1)) <script>window.pwned=2</script>'),
          money: r('It costs $5 and $6 today.'),
          inline: r('Area $\\pi r^2$ and \\(a_1 * b_1\\) here'),
          display: r('$$\n\\frac{a}{b}\n$$'),
          env: r('\\begin{align}\na &= b \\\\\nc &= d\n\\end{align}'),
          pending: r('Start\n\n$$\n\\int_0^1'),
          code: r('`$not math$` and\n\n```\n$$x$$\n```'),
          latex: render.latexOf('a $x$ b $$y^2$$ c \\(z\\) $x$'),
        };
        """,
    )
    assert "<img" not in html["xss"] and "<script" not in html["xss"] and 'href="javascript' not in html["xss"]
    assert page.js("return window.pwned === undefined")
    assert "katex" not in html["money"] and "$5 and $6" in html["money"]
    assert html["inline"].count('class="katex"') == 2 and "<em>" not in html["inline"]
    assert "katex-display" in html["display"] and "katex-error" not in html["display"]
    assert "katex-display" in html["env"] and "katex-error" not in html["env"]
    assert 'class="math-pending"' in html["pending"] and "\\int_0^1" in html["pending"]
    assert "katex" not in html["code"]
    assert html["latex"] == ["x", "y^2", "z"]


def test_errors_in_plain_words_and_image_maths(open_page: OpenPage) -> None:
    page = open_page(viewport=DESKTOP)
    out = run_module(
        page,
        r"""
        const d = errors.describeError;
        const h = (o) => new Headers(o);
        return {
          wait: errors.retryAfterSeconds(h({'Retry-After': '42'})),
          waitReset: errors.retryAfterSeconds(h({'RateLimit-Reset': '90'})),
          waitNone: errors.retryAfterSeconds(h({})),
          limited: d(429, {code: 'rate_limited'}, 42),
          limitedNoWait: d(429, {code: 'rate_limited'}, null),
          tooLarge: d(413, {code: 'payload_too_large'}),
          pixels: d(400, {code: 'image_too_large'}),
          long: d(400, {code: 'image_too_long'}),
          ratio: d(400, {code: 'image_aspect_ratio'}),
          down: d(502, {code: 'upstream_unavailable'}),
          midStream: d(200, {code: 'upstream_unavailable'}),
          timeout: d(504, {code: 'upstream_timeout'}),
          network: d(0, {code: 'network'}),
          other: d(400, {code: 'invalid_request', message: 'task must be one of ...'}),
          fit: image.fitPixels(4000, 3000),
          small: image.fitPixels(800, 600),
        };
        """,
    )
    assert out["wait"] == 42 and out["waitReset"] == 90 and out["waitNone"] is None
    assert out["limited"] == "Too many requests from you. Try again in 42 seconds."
    assert out["limitedNoWait"] == "Too many requests from you. Try again in a little while."
    assert out["tooLarge"].startswith("The image is too large for the server.")
    assert out["pixels"].startswith("The image has too many pixels")
    assert out["long"] == out["ratio"] and out["long"].startswith("The image is far too long and narrow")
    assert out["down"] == out["midStream"] == "The AI model is not available right now. Try again in a minute."
    assert out["timeout"].startswith("The AI model took too long")
    assert out["network"].startswith("Cannot reach the server")
    assert out["other"] == "Something went wrong: task must be one of ..."
    assert out["fit"]["width"] * out["fit"]["height"] <= 4_000_000 and out["small"]["scale"] == 1


def test_page_loads_nothing_from_other_hosts_and_sends_strict_headers(open_page: OpenPage) -> None:
    page = open_page(viewport=DESKTOP)
    resources = page.js("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(url.startswith(page.service.url + "/") for url in resources)
    assert any("katex.min.js" in url for url in resources)
    resp = requests.get(page.service.url + "/", timeout=10)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and resp.headers["X-Content-Type-Options"]
    font = requests.get(page.service.url + "/assets/vendor/katex/fonts/KaTeX_Main-Regular.woff2", timeout=10)
    assert font.status_code == 200 and font.headers["Content-Type"] == "font/woff2"
    module = requests.get(page.service.url + "/assets/js/main.js", timeout=10)
    assert module.headers["Content-Type"].startswith("text/javascript")
    missing = requests.get(page.service.url + "/assets/nope.js", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_sources_have_no_remote_urls_or_secrets() -> None:
    own = [p for p in STATIC.rglob("*") if p.is_file() and "vendor" not in p.parts]
    assert {p.name for p in own} >= {"index.html", "app.css", "main.js", "sse.js", "render.js"}
    for path in own:
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name only
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), f"remote URL in {path.name}"
        assert not re.search(r"\bsk-[A-Za-z0-9]{8,}", text), f"a key-like string in {path.name}"
    css = (STATIC / "vendor/katex/katex.min.css").read_text()
    fonts = set(re.findall(r"url\(([^)]+)\)", css))
    assert fonts and all((STATIC / "vendor/katex" / f).is_file() for f in fonts)
    html = (STATIC / "index.html").read_text()
    for ref in re.findall(r'(?:src|href)="assets/([^"]+)"', html):
        assert (STATIC / ref).is_file(), ref


def test_vendored_libraries_match_package_json() -> None:
    wanted = json.loads((ROOT / "web/package.json").read_text())["dependencies"]
    vendored = json.loads((STATIC / "vendor/versions.json").read_text())
    assert vendored == {name: wanted[name] for name in vendored} and set(vendored) == {"katex", "markdown-it"}


def test_error_event_after_some_text_keeps_the_text(open_page: OpenPage) -> None:
    """The API's mid-stream ``event: error`` (the model failed after the first words), through api.js."""
    page = open_page(viewport=DESKTOP)
    out = run_module(
        page,
        r"""
        const api = await import('./assets/js/api.js');
        const body = 'event: delta\ndata: {"text":"First $x"}\n\n' + 'event: delta\ndata: {"text":"^2$ words"}\n\n' +
          'event: error\ndata: {"error":{"code":"upstream_timeout","message":"the model did not answer in time",' +
          '"request_id":"r1"}}\n\n';
        const realFetch = window.fetch;
        window.fetch = async () => new Response(new Blob([body]).stream(),
          {status: 200, headers: {'Content-Type': 'text/event-stream'}});
        const deltas = [];
        try {
          await api.analyze({image: new Blob(['x']), task: 'solve', language: 'auto', onDelta: (t) => deltas.push(t)});
          return {deltas, outcome: 'resolved'};
        } catch (err) {
          return {deltas, outcome: err.constructor.name, code: err.error.code,
                  words: errors.describeError(err.status, err.error, err.wait)};
        } finally {
          window.fetch = realFetch;
        }
        """,
    )
    assert out["deltas"] == ["First $x", "^2$ words"]
    assert out["outcome"] == "ApiFailure" and out["code"] == "upstream_timeout"
    assert out["words"].startswith("The AI model took too long to answer.")
