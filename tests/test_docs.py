"""docs/en and docs/zh_cn: links resolve, the two languages hold the same pages and the same
code, and every documented command is listed in docs/en/commands_checked.md with how it was
checked (a test that runs it, or a run by hand)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EN, ZH = REPO / "docs" / "en", REPO / "docs" / "zh_cn"
PAGES = sorted(p.name for p in EN.glob("*.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
COMMENT = re.compile(r"(^|\s)#.*$")


def code_blocks(path: Path) -> list[tuple[str, list[str]]]:
    """Each fenced block's language and its lines, comments and trailing spaces removed
    (comments may be translated; the code may not)."""
    blocks = []
    for lang, body in FENCE.findall(path.read_text(encoding="utf-8")):
        lines = [COMMENT.sub("", line).rstrip() for line in body.splitlines()]
        blocks.append((lang, [line for line in lines if line]))
    return blocks


def commands(path: Path) -> list[str]:
    """The command lines of a page's bash blocks, continuation lines joined."""
    found = []
    for lang, lines in code_blocks(path):
        if lang != "bash":
            continue
        text = "\n".join(lines).replace("\\\n", " ")
        found += [re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip()]
    return found


def test_there_are_pages():
    assert {"index.md", "get_started.md", "train_test.md", "config.md", "datasets.md",
            "model_zoo.md", "benchmarks.md", "migration.md"} <= set(PAGES)


@pytest.mark.parametrize("page", sorted({p.relative_to(REPO).as_posix()
                                          for d in (EN, ZH) for p in d.glob("*.md")}))
def test_relative_links_resolve(page):
    path = REPO / page
    broken = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (path.parent / target.split("#")[0]).is_file():
            broken.append(target)
    assert not broken, f"{page}: links to missing files: {broken}"


@pytest.mark.parametrize("page", PAGES)
def test_each_english_page_has_a_chinese_one_with_the_same_code(page):
    zh = ZH / page
    assert zh.is_file(), f"docs/zh_cn/{page} is missing"
    en_blocks, zh_blocks = code_blocks(EN / page), code_blocks(zh)
    assert len(en_blocks) == len(zh_blocks), f"{page}: {len(en_blocks)} code blocks in en, {len(zh_blocks)} in zh_cn"
    for i, (a, b) in enumerate(zip(en_blocks, zh_blocks)):
        assert a == b, f"{page}: code block {i + 1} differs between en and zh_cn"


def test_no_chinese_page_without_an_english_one():
    assert sorted(p.name for p in ZH.glob("*.md")) == PAGES


def test_every_documented_command_says_how_it_was_checked():
    table = (EN / "commands_checked.md").read_text(encoding="utf-8")
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\|\s*`(.+)`\s*\|\s*(.+?)\s*\|$", line)
        if m:
            rows[re.sub(r"\s+", " ", m.group(1)).strip()] = m.group(2)
    missing = [f"{page}: {cmd}" for page in PAGES for cmd in commands(EN / page) if cmd not in rows]
    assert not missing, "commands not in docs/en/commands_checked.md:\n" + "\n".join(missing)
    for cmd, how in rows.items():
        assert re.search(r"tests/\S+\.py|ran by hand, 20\d\d-\d\d-\d\d", how), f"{cmd}: unclear check {how!r}"


def test_cited_tests_exist():
    table = (EN / "commands_checked.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", table))
    assert cited, "commands_checked.md cites no test"
    missing = []
    for path, name in cited:
        if not (REPO / path).is_file():
            missing.append(path)
        elif name and not re.search(rf"^def {name}\(", (REPO / path).read_text(encoding="utf-8"), re.M):
            missing.append(f"{path}::{name}")
    assert not missing, f"commands_checked.md cites tests that do not exist: {missing}"


def test_readme_points_at_the_docs():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/en/index.md" in text and "docs/zh_cn/index.md" in text
