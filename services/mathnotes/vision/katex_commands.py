"""The LaTeX commands KaTeX knows, extracted from the vendored ``katex.min.js`` into ``katex_commands.txt``.

The structured-answer repair (:mod:`~mathnotes.vision.answer`) reads the committed list
to tell ``\\boxed`` from a JSON ``\\b`` escape; a test checks that the list matches the
vendored KaTeX, so updating KaTeX means running::

    python -m mathnotes.vision.katex_commands     # rewrites katex_commands.txt
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

__all__ = ["COMMANDS_FILE", "KATEX_JS", "commands", "extract"]

HERE = Path(__file__).parent
KATEX_JS = HERE / "web" / "static" / "vendor" / "katex" / "katex.min.js"
COMMANDS_FILE = HERE / "katex_commands.txt"
# every string literal in the bundle that is a backslash and letters: function names, symbols, macros
_LITERAL = re.compile(r"""(["'`])\\\\([A-Za-z]+)\1""")


def extract(js: str) -> list[str]:
    """The letter commands (without their backslash) named in KaTeX's source, sorted."""
    return sorted({match.group(2) for match in _LITERAL.finditer(js)})


@cache
def commands() -> frozenset[str]:
    """The committed list (one command a line, without its backslash)."""
    return frozenset(line.strip() for line in COMMANDS_FILE.read_text().splitlines() if line.strip())


def main() -> None:
    names = extract(KATEX_JS.read_text(encoding="utf-8"))
    COMMANDS_FILE.write_text("".join(f"{name}\n" for name in names))
    print(f"{len(names)} commands written to {COMMANDS_FILE}")


if __name__ == "__main__":
    main()
