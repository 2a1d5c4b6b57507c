"""The README's runnable examples run as written, against a real sandbox."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def runnable_blocks() -> list:
    text = README.read_text(encoding="utf-8")
    return re.findall(r"<!-- runnable[^>]*-->\s*```python\n(.*?)```", text, re.S)


def test_readme_first_lines_are_the_two_newcomer_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].startswith("pip install . && wechatpay-chain demo")
    assert block[1].startswith("pip install '.[test]' && python -m pytest")


def test_runnable_readme_blocks_execute() -> None:
    blocks = runnable_blocks()
    assert blocks, "README has no runnable block"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
