"""The documentation's code works: README.md and docs/*.md, checked as a reader would use them.

Rules for whoever writes the docs:

* Every ```python block runs. The blocks of one page run in order, in one namespace (a page
  reads as one session), in a fresh temporary working directory, their output captured. Keep
  them cheap: ``**PRESETS["tiny"]`` sizes, few evaluation episodes, short episodes.
* A block right after ``<!-- not-run: reason -->`` is skipped. Only for blocks that need a GPU,
  several devices or hours; at most :data:`MAX_NOT_RUN` in all, each with its reason. A block
  right after ``<!-- readme-example: name -->`` is run by tests/test_readme.py (with checks that
  it learns) and is skipped here.
* Every command in a ```bash / ```sh / ```console block, and every `inline code` in a table row,
  that invokes ``gcrl-depth ...`` or ``python -m benchmarks.NAME ...`` (any python: ``python3``,
  ``.venv/bin/python``) is parsed by that program's own argparse parser, nothing trained: an
  unknown flag or a bad value fails. A ``benchmarks`` script so documented needs ``parse_args``.
  ``make TARGET`` must name a Makefile target. ``#`` comments, ``VAR=value`` prefixes, ``$ ``
  prompts and ``\\`` continuations are understood; other commands are not checked.
* Every relative link resolves to a file of the repository, and its ``#anchor`` to a heading.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

# The blocks compile programs for half of Linux's default vm.max_map_count: they leave with a child process
pytestmark = pytest.mark.isolated(module=True)

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MAX_NOT_RUN = 5
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*(?P<kind>not-run|readme-example):?\s*(?P<note>.*?)\s*-->\s*$")
SHELLS = {"bash", "sh", "console", "shell"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # the line of the block's first code line in the page (1-based)
    lang: str
    code: str
    marker: str  # "", "not-run" or "readme-example"
    note: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page``, with the HTML comment marker on the line before each."""
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        code = "\n".join(row[len(match["indent"]):] for row in match["body"].splitlines())
        found.append(Block(page, line, match["lang"].lower(), code, marker["kind"] if marker else "",
                           marker["note"] if marker else ""))
    return found


def commands(page: Path) -> list[tuple[str, list[str]]]:
    """(where, argv) of every command line in the page's shell blocks and table cells."""
    found = []
    for block in blocks(page):
        if block.lang not in SHELLS:
            continue
        rows = block.code.replace("\\\n", " ").splitlines()
        found += [(f"{block.where}+{n}", argv) for n, row in enumerate(rows) for argv in shell_commands(row)]
    for n, row in enumerate(page.read_text().splitlines(), 1):
        if row.lstrip().startswith("|"):
            for span in re.findall(r"`([^`]+)`", row):  # a bare program name is no command
                found += [(f"{page.relative_to(ROOT)}:{n}", argv) for argv in shell_commands(span) if len(argv) > 1]
    return [(where, argv) for where, argv in found if program(argv)]


def shell_commands(row: str) -> list[list[str]]:
    """The simple commands of one shell line: comments, prompts and ``VAR=value`` prefixes dropped; a
    shell variable (``${SLURM_ARRAY_TASK_ID}``, filled in when the job runs) reads as 1."""
    row = re.sub(r"^\s*\$ ", "", row)
    try:
        tokens = shlex.split(row, comments=True)
    except ValueError:  # an unclosed quote: not a command line
        return []
    argvs: list[list[str]] = [[]]
    for token in tokens:
        if token in ("&&", "||", ";", "|"):
            argvs.append([])
        elif argvs[-1] or not re.match(r"^[A-Za-z_]\w*=", token):
            argvs[-1].append(re.sub(r"\$\{?[A-Za-z_]\w*\}?", "1", token))
    return [argv for argv in argvs if argv]


CAMPAIGN_SCRIPTS = {"benchmarks.reproduce": "reproduce", "benchmarks.depth_sweep": "sweep",
                    "benchmarks.compare_baselines": "compare", "benchmarks.depth_evidence": "evidence"}


def program(argv: list[str]) -> str | None:
    """``gcrl-depth``, ``benchmarks.NAME`` (``python -m benchmarks.NAME``), ``benchmarks/NAME.py`` (a
    script run by its path, which no longer works: refused) or ``make``, for the commands this test checks."""
    if re.fullmatch(r"(\S*/)?gcrl-depth", argv[0]):
        return "gcrl-depth"
    if re.fullmatch(r"(\S*/)?python3?(\.\d+)?", argv[0]) and len(argv) > 1:
        if re.fullmatch(r"(\./)?benchmarks/\w+\.py", argv[1]):
            return argv[1]
        module = re.fullmatch(r"benchmarks\.\w+", argv[2]) if argv[1] == "-m" and len(argv) > 2 else None
        return module[0] if module else None
    return "make" if argv[0] == "make" else None


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]


def python_pages() -> list[Path]:
    return [page for page in PAGES if any(b.lang == "python" and not b.marker for b in blocks(page))]


def all_commands() -> list[tuple[str, list[str]]]:
    return [command for page in PAGES for command in commands(page)]


@pytest.mark.parametrize("page", python_pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks(page):
        if block.lang != "python" or block.marker:
            continue
        code = "\n" * (block.line - 1) + block.code  # tracebacks give the page's line numbers
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(code, str(page), "exec"), namespace)
        except Exception:
            pytest.fail(f"the python block at {block.where} failed:\n{traceback.format_exc(limit=-4)}"
                        f"\noutput:\n{printed.getvalue()[-2000:]}")


@pytest.mark.parametrize(("where", "argv"), all_commands(), ids=lambda x: x if isinstance(x, str) else " ".join(x)[:60])
def test_commands_parse(where, argv, monkeypatch):
    monkeypatch.chdir(ROOT)
    name = program(argv)
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            if name == "make":
                targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M)
                assert not (set(argv[1:]) - set(targets)) - {a for a in argv[1:] if "=" in a}, argv
            elif name == "gcrl-depth":
                from gcrl_depth.cli.main import build_parser

                build_parser().parse_args(argv[1:])
            elif name.endswith(".py"):
                pytest.fail(f"{where}: {' '.join(argv)}\nbenchmarks are a package: write python -m "
                            f"benchmarks.{Path(name).stem}")
            elif name in CAMPAIGN_SCRIPTS:
                pytest.fail(f"{where}: {' '.join(argv)}\nthe campaign is a command now: write gcrl-depth "
                            f"{CAMPAIGN_SCRIPTS[name]}")
            else:
                script = importlib.import_module(name)
                assert hasattr(script, "parse_args"), f"{name} has no parse_args: document its command in prose"
                script.parse_args(argv[3:])
        except SystemExit as exit_:
            pytest.fail(f"{where}: {' '.join(argv)}\ndoes not parse (exit {exit_.code}): {errors.getvalue().strip()}")


def test_some_commands_are_checked():
    names = {program(argv) for _, argv in all_commands()}
    assert {"gcrl-depth", "benchmarks.train_throughput", "make"} <= names, names
    campaigns = {argv[1] for _, argv in all_commands() if program(argv) == "gcrl-depth" and len(argv) > 1}
    assert {"train", "reproduce", "sweep", "compare", "evidence"} <= campaigns, campaigns


def test_not_run_blocks_are_few_and_say_why():
    skipped = [b for b in all_blocks() if b.marker == "not-run"]
    assert len(skipped) <= MAX_NOT_RUN, [b.where for b in skipped]
    assert all(b.note for b in skipped), [b.where for b in skipped if not b.note]
    assert all(b.lang == "python" for b in skipped if b.marker), "markers go before python blocks"


def test_readme_starts_with_the_two_commands():
    first = next(b for b in blocks(ROOT / "README.md"))
    assert first.lang == "bash" and [argv for row in first.code.splitlines() for argv in shell_commands(row)] == [
        ["make", "demo"], ["make", "test"]], first.code
    assert len((ROOT / "README.md").read_text().splitlines()) < 150


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", heading.strip().lower()))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_links_resolve(page):
    text = FENCE.sub("", page.read_text())
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", FENCE.sub("", file.read_text()), re.M)
            if anchor not in {slug(h) for h in headings}:
                broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
MAGIC = {".png": b"\x89PNG", ".gif": b"GIF8"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_pictures_are_pictures(page):
    """Every image link of the page opens a PNG or GIF of the repository (test_links_resolve checks it exists)."""
    for target in IMAGE.findall(FENCE.sub("", page.read_text())):
        file = (page.parent / target).resolve()
        assert file.suffix in MAGIC and file.read_bytes()[:4] == MAGIC[file.suffix], f"{page.relative_to(ROOT)}: {target}"


def test_the_readme_shows_a_curve_the_q_maps_and_a_small_gif_under_its_status():
    text = (ROOT / "README.md").read_text()
    below = text[text.index("**Status.**"):text.index("## Differences from the paper's code")]
    pictures = IMAGE.findall(below)
    gifs = [p for p in pictures if p.endswith(".gif")]
    assert len(pictures) >= 3 and gifs and any("qmap" in p for p in pictures), pictures
    assert all((ROOT / gif).stat().st_size <= 2 * 1024 * 1024 for gif in gifs)  # a GIF of at most 2 MB


def test_every_committed_result_shows_its_picture_beside_its_finding():
    sections = re.split(r"^### ", (ROOT / "docs" / "results.md").read_text(), flags=re.M)[1:]
    assert len(sections) >= 20
    for section in sections:
        title = section.splitlines()[0]
        assert IMAGE.search(section), f"docs/results.md: {title!r} shows no picture"
        assert re.search(r"\]\(\.\./benchmarks/results/[^)]+\.(md|csv)\)", section), f"{title!r} links no result file"
