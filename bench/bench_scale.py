"""Scale benchmark: `cardcheck verify` on a large workspace, against the JSON parse bound.

    .venv/bin/python bench/bench_scale.py            # full size, writes docs/benchmarks.md
    .venv/bin/python bench/bench_scale.py --quick    # 100 notebooks, 30 MB, 20 MB big notebook

Generates a workspace (default 1,000 notebooks, about 300 MB) and a single
large notebook (about 200 MB) in a temporary folder, then measures in one run:

- the bound: a Python process that reads every notebook and parses it with
  orjson, nothing else (best of several, before and after the other runs);
- `cardcheck verify` on the workspace with an empty cache, without the cache,
  again with nothing changed, and after one notebook changed;
- peak memory (RSS) of `cardcheck verify` on the large notebook;
- start-up: `cardcheck --help`, and whether it or a rules-only run imports an
  LLM SDK.

Every check runs as its own `cardcheck` process, as a user or CI would run it,
so its time includes interpreter start-up. The bound's time includes it too. The
files are read once before timing, so every run reads from the page cache.
The figures go to the `scale` section of docs/benchmarks.md, between
`<!-- scale:start -->` and `<!-- scale:end -->`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from generate_workspace import MB, generate_big_notebook, generate_workspace

DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- scale:start -->", "<!-- scale:end -->"

# Targets, as ratios.
TARGET_FULL_RATIO = 1.5  # full check / parse bound
TARGET_RERUN_SHARE = 0.05  # unchanged re-run / first run
MEMORY_SLACK_MB = 150  # peak RSS on the large notebook under 2 x its size + this

BOUND_SCRIPT = r"""
import os, sys, orjson
count = 0
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        if name.endswith(".ipynb"):
            with open(os.path.join(folder, name), "rb") as handle:
                orjson.loads(handle.read())
            count += 1
print(count)
"""
# The check's reading alone: the lean reader and the walk over outputs, no extraction.
READ_SCRIPT = r"""
import os, sys
from pathlib import Path
from cardcheck_lab.scan import read_doc
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        if name.endswith(".ipynb"):
            read_doc(Path(folder) / name, name)
"""
# The rule extractor alone, then one comparison of the card's claims with all the
# evidence, in one process. Documents are read first, untimed.
EXTRACT_SCRIPT = r"""
import os, sys, time
from pathlib import Path
from cardcheck_lab.compare import compare
from cardcheck_lab.extract_rules import extract_rules
from cardcheck_lab.runner import load_claims
from cardcheck_lab.scan import read_doc
docs = [read_doc(Path(folder) / name, name)[0]
        for folder, _, names in os.walk(sys.argv[1]) for name in names if name.endswith(".ipynb")]
started = time.perf_counter()
evidence = [item for doc in docs for item in extract_rules(doc)]
extracted = time.perf_counter()
compare(load_claims(Path(sys.argv[2]).read_text(encoding="utf-8"), "card"), evidence)
print(extracted - started, time.perf_counter() - extracted)
"""
LLM_SDKS = ("openai", "anthropic")


@dataclass
class Run:
    seconds: float
    returncode: int
    max_rss: int  # bytes, of the process itself (getrusage)
    tree_rss: int | None = None  # bytes, sampled over the process and its children
    stdout: str = ""
    stderr: str = ""


def run(command: list[str], sample_tree: bool = False) -> Run:
    """Run ``command`` and return its wall time and peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = {"tree": None}
    stop = threading.Event()
    sampler = None
    if sample_tree:
        sampler = threading.Thread(target=_sample_tree, args=(process.pid, stop, peak), daemon=True)
        sampler.start()
    out_reader = _Reader(process.stdout)
    err_reader = _Reader(process.stderr)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stop.set()
    if sampler is not None:
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in KiB on Linux
    return Run(
        seconds,
        process.returncode,
        usage.ru_maxrss * scale,
        peak["tree"],
        out_reader.text(),
        err_reader.text(),
    )


class _Reader:
    def __init__(self, stream) -> None:
        self.parts: list[bytes] = []
        self.thread = threading.Thread(target=lambda: self.parts.append(stream.read()), daemon=True)
        self.thread.start()

    def text(self) -> str:
        self.thread.join()
        return b"".join(self.parts).decode("utf-8", "replace")


def _sample_tree(pid: int, stop: threading.Event, peak: dict) -> None:
    try:
        import psutil
    except ImportError:
        return
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = 0
        try:
            for process in [root, *root.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            return
        peak["tree"] = max(peak["tree"] or 0, total)
        stop.wait(0.02)


def cardcheck_command() -> list[str]:
    script = Path(sys.executable).parent / "cardcheck"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cardcheck_lab.cli"]


def warm(folder: Path) -> int:
    """Read every file once so that each timed run reads from the page cache."""
    total = 0
    for path in folder.rglob("*.ipynb"):
        total += len(path.read_bytes())
    return total


def bound(folder: Path, repeat: int) -> list[float]:
    return [run([sys.executable, "-c", BOUND_SCRIPT, str(folder)]).seconds for _ in range(repeat)]


def verify(
    card: Path, workspace: Path, report: Path, *options: str, sample_tree: bool = False
) -> tuple[Run, dict]:
    command = [
        *cardcheck_command(),
        "verify",
        str(card),
        "--repo",
        str(workspace),
        "--quiet",
        "--format",
        "json",
        "--output",
        str(report),
        *options,
    ]
    result = run(command, sample_tree=sample_tree)
    if result.returncode not in (0, 1):
        raise SystemExit(
            f"cardcheck failed ({result.returncode}): {' '.join(command)}\n{result.stderr}"
        )
    return result, json.loads(report.read_text(encoding="utf-8"))


def comparable(report: dict) -> tuple:
    """What must not depend on the cache: the claims with their verdicts and evidence, and each notebook."""
    notebooks = [{k: v for k, v in n.items() if k != "seconds"} for n in report["notebooks"]]
    return report["claims"], notebooks, report["summary"]


def change_one(workspace: Path, index: int = 0) -> Path:
    """Add a cell that prints a metric to a notebook of about median size, and return its path.

    ``index`` picks another notebook near the median, so that repeated changes
    each touch a notebook that the cache still holds.
    """
    paths = sorted(workspace.rglob("*.ipynb"), key=lambda p: (p.stat().st_size, str(p)))
    path = paths[len(paths) // 2 + index]
    document = json.loads(path.read_text(encoding="utf-8"))
    document["cells"].append(
        {
            "cell_type": "code",
            "execution_count": 99,
            "id": "bench-changed",
            "metadata": {},
            "outputs": [
                {"name": "stdout", "output_type": "stream", "text": ["Validation F1: 0.5123\n"]}
            ],
            "source": ["print(f'Validation F1: {f1:.4f}')"],
        }
    )
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def llm_imports(command: list[str]) -> list[str]:
    """Run ``command`` under ``-X importtime`` and return the LLM SDK modules it imported."""
    result = run([sys.executable, "-X", "importtime", *command])
    found = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name.split(".")[0] in LLM_SDKS:
                found.add(name)
    return sorted(found)


@dataclass
class Figures:
    notebooks: int = 0
    workspace_bytes: int = 0
    big_bytes: int = 0
    bound_before: list[float] = field(default_factory=list)
    bound_after: list[float] = field(default_factory=list)
    read_only: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)
    first_rss: int = 0
    first_tree_rss: int = 0
    no_cache: list[float] = field(default_factory=list)
    same_without_cache: bool | None = None
    reruns: list[float] = field(default_factory=list)
    same_from_cache: bool = False
    changes: list[tuple[float, float, str]] = field(
        default_factory=list
    )  # (run, the notebook, its path)
    extract_only: float = 0.0
    compare_seconds: float = 0.0
    big: float = 0.0
    big_rss: int = 0
    big_tree_rss: int | None = None
    big_read_rss: int = 0
    help_seconds: list[float] = field(default_factory=list)
    python_seconds: list[float] = field(default_factory=list)
    sdk_help: list[str] = field(default_factory=list)
    sdk_run: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    load_before: float | None = None
    load_after: float | None = None
    worker_seconds: list[float] = field(default_factory=list)

    @property
    def bound(self) -> float:
        return min(self.bound_before + self.bound_after)

    @property
    def first(self) -> float:
        return min(self.firsts)

    @property
    def rerun(self) -> float:
        return min(self.reruns)


def measure(args: argparse.Namespace, work: Path) -> Figures:
    figures = Figures()
    figures.load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    workspace = work / "workspace"
    print(
        f"generating {args.notebooks} notebooks ({args.total_mb:g} MB) in {workspace} ...",
        flush=True,
    )
    generated = generate_workspace(workspace, args.notebooks, args.total_mb)
    card_text = generated.card.read_text(encoding="utf-8")
    figures.notebooks = len(generated.notebooks)
    figures.workspace_bytes = warm(workspace)
    reports = work / "reports"
    reports.mkdir()

    figures.bound_before = bound(workspace, args.repeat)
    print(f"bound: {min(figures.bound_before):.3f} s", flush=True)

    # Each first run starts from an empty cache, and the last one's cache serves the re-runs.
    print("full check, empty cache ...", flush=True)
    report: dict = {}
    for index in range(args.repeat):
        cache = work / f"cache{index}"
        first, report = verify(
            generated.card,
            workspace,
            reports / "first.json",
            "--cache-dir",
            str(cache),
            sample_tree=True,
        )
        figures.firsts.append(first.seconds)
        figures.first_rss = max(figures.first_rss, first.max_rss)
        figures.first_tree_rss = max(figures.first_tree_rss, first.tree_rss or 0)
        figures.worker_seconds.append(sum(n["seconds"] for n in report["notebooks"]))
    figures.summary = report["summary"]
    print(f"  best {figures.first:.2f} s", flush=True)

    if not args.skip_no_cache:
        print("full check, --no-cache ...", flush=True)
        same = True
        for _ in range(args.repeat):
            plain, plain_report = verify(
                generated.card, workspace, reports / "plain.json", "--no-cache"
            )
            figures.no_cache.append(plain.seconds)
            same = same and comparable(plain_report) == comparable(report)
        figures.same_without_cache = same
        print(f"  best {min(figures.no_cache):.2f} s, same report: {same}", flush=True)

    print("re-runs, nothing changed ...", flush=True)
    same = True
    for index in range(args.repeat):
        rerun, rerun_report = verify(
            generated.card, workspace, reports / f"rerun{index}.json", "--cache-dir", str(cache)
        )
        figures.reruns.append(rerun.seconds)
        same = same and comparable(rerun_report) == comparable(report)
    figures.same_from_cache = same
    print(f"  best {figures.rerun:.2f} s, same report: {same}", flush=True)

    print(f"one notebook changed, {args.repeat} times ...", flush=True)
    for index in range(args.repeat):
        changed_path = change_one(workspace, index)
        relative = str(changed_path.relative_to(workspace))
        changed, changed_report = verify(
            generated.card, workspace, reports / "changed.json", "--cache-dir", str(cache)
        )
        own = next(n["seconds"] for n in changed_report["notebooks"] if n["path"] == relative)
        figures.changes.append((changed.seconds, own, relative))
        print(
            f"  {relative}: {changed.seconds:.2f} s (the notebook itself {own:.3f} s)", flush=True
        )

    figures.bound_after = bound(workspace, args.repeat)
    figures.read_only = [
        run([sys.executable, "-c", READ_SCRIPT, str(workspace)]).seconds for _ in range(args.repeat)
    ]
    extract = run([sys.executable, "-c", EXTRACT_SCRIPT, str(workspace), str(generated.card)])
    figures.extract_only, figures.compare_seconds = map(
        float, extract.stdout.strip().splitlines()[-1].split()
    )
    shutil.rmtree(workspace)

    big_folder = work / "big"
    print(f"generating a {args.big_mb:g} MB notebook ...", flush=True)
    big = big_folder / "big.ipynb"
    figures.big_bytes = generate_big_notebook(big, args.big_mb)
    (big_folder / "MODEL_CARD.md").write_text(card_text, encoding="utf-8")
    warm(big_folder)
    print("check on the large notebook ...", flush=True)
    big_run, _ = verify(
        big_folder / "MODEL_CARD.md",
        big_folder,
        reports / "big.json",
        "--cache-dir",
        str(work / "big-cache"),
        sample_tree=True,
    )
    figures.big, figures.big_rss, figures.big_tree_rss = (
        big_run.seconds,
        big_run.max_rss,
        big_run.tree_rss,
    )
    figures.big_read_rss = run([sys.executable, "-c", READ_SCRIPT, str(big_folder)]).max_rss
    print(f"  {big_run.seconds:.2f} s, peak RSS {big_run.max_rss / MB:.0f} MB", flush=True)

    figures.load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print("start-up ...", flush=True)
    figures.help_seconds = [run([*cardcheck_command(), "--help"]).seconds for _ in range(5)]
    figures.python_seconds = [run([sys.executable, "-c", "pass"]).seconds for _ in range(5)]
    figures.sdk_help = llm_imports(["-m", "cardcheck_lab.cli", "--help"])
    example = REPO / "examples" / "credit-scoring"
    figures.sdk_run = llm_imports(
        [
            "-m",
            "cardcheck_lab.cli",
            "verify",
            str(example / "MODEL_CARD.md"),
            "--quiet",
            "--format",
            "json",
            "--output",
            str(reports / "example.json"),
            "--no-cache",
        ]
    )
    return figures


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(figures: Figures, command: str) -> str:
    cores = os.cpu_count() or 1
    bound_value = figures.bound
    full_ratio = figures.first / bound_value
    rerun_share = figures.rerun / figures.first
    change_runs = statistics.median(run for run, _, _ in figures.changes)
    change_own = statistics.median(own for _, own, _ in figures.changes)
    change_extra = change_runs - figures.rerun
    # "About one notebook": at most twice the changed notebook's time, or an average notebook's.
    one_notebook = 2 * max(change_own, figures.first / figures.notebooks)
    memory_limit = 2 * figures.big_bytes + MEMORY_SLACK_MB * MB
    read_only = min(figures.read_only)
    floor = (read_only + figures.extract_only) / cores
    summary = figures.summary
    runs = ", ".join(f"{value:.2f}" for value in figures.firsts)

    intro = [
        START,
        f"## Scale: a {figures.notebooks:,}-notebook workspace",
        "",
        (
            f"Measured by `{command}` on {datetime.date.today().isoformat()} ({platform.system()} "
            f"{platform.machine()}, {cores} CPUs, Python {platform.python_version()}). The machine is shared, so "
            "only figures measured side by side in this one run are compared. Each time is the best of its runs, "
            "except the run after a change, which is the median over different notebooks."
        ),
        "",
        (
            f"The workspace has {figures.notebooks:,} generated notebooks of 20 KB to 5 MB, "
            f"{figures.workspace_bytes / MB:.0f} MB in all. They print metrics, pandas tables as text and HTML, "
            "classification reports and Keras, LightGBM and tqdm training logs, and embed base64 PNG plots. Its card "
            f"makes {summary.get('claims', 0)} claims ({summary.get('verified', 0)} verified, "
            f"{summary.get('mismatch', 0)} mismatch), and the check finds {summary.get('evidence', 0):,} metric values. "
            "Each check is a `cardcheck verify` process. The bound is a Python process that reads every notebook "
            "and parses it with orjson, nothing else. Both times include interpreter start-up, and every file is "
            "read from the page cache."
        ),
    ]
    table = [
        "",
        "| figure | value | target | |",
        "|---|---:|---|---|",
        f"| parse bound | {bound_value:.2f} s | | |",
        f"| full check, empty cache (runs: {runs} s) | {figures.first:.2f} s | | |",
        (
            f"| full check / bound | {full_ratio:.1f}x | within {TARGET_FULL_RATIO}x | "
            f"{_verdict(full_ratio <= TARGET_FULL_RATIO)} |"
        ),
        f"| notebooks per second | {figures.notebooks / figures.first:.0f} | | |",
    ]
    if figures.no_cache:
        table.append(
            f"| full check, `--no-cache` | {min(figures.no_cache):.2f} s | same report as with the cache | "
            f"{_verdict(bool(figures.same_without_cache))} |"
        )
    table += [
        (
            f"| second run, nothing changed | {figures.rerun:.2f} s ({100 * rerun_share:.1f}% of the first) "
            f"| under {100 * TARGET_RERUN_SHARE:.0f}%, same report | "
            f"{_verdict(rerun_share < TARGET_RERUN_SHARE and figures.same_from_cache)} |"
        ),
        (
            f"| run after one notebook changed (median of {len(figures.changes)} notebooks) | {change_runs:.2f} s, "
            f"+{change_extra:.2f} s over an unchanged run; the notebook itself took {change_own:.3f} s "
            f"| about one notebook (at most 2x its time) | {_verdict(change_extra <= one_notebook)} |"
        ),
        (
            f"| peak RSS on a {figures.big_bytes / MB:.0f} MB notebook | {figures.big_rss / MB:.0f} MB "
            f"| under 2 x size + {MEMORY_SLACK_MB} MB = {memory_limit / MB:.0f} MB | "
            f"{_verdict(figures.big_rss < memory_limit)} |"
        ),
        (
            f"| `cardcheck --help` | {min(figures.help_seconds) * 1000:.0f} ms "
            f"(bare `python -c pass`: {min(figures.python_seconds) * 1000:.0f} ms) | | |"
        ),
        (
            f"| LLM SDKs imported by `--help` / a rules-only run | {', '.join(figures.sdk_help) or 'none'} / "
            f"{', '.join(figures.sdk_run) or 'none'} | none | {_verdict(not figures.sdk_help and not figures.sdk_run)} |"
        ),
    ]

    load = ""
    if figures.load_before is not None:
        load = (
            f"Other work shares the machine: the load average (1 min) was {figures.load_before:.1f} at the start "
            f"and {figures.load_after:.1f} before the start-up runs. "
        )
    notes = [
        "",
        f"{load}The bound was {min(figures.bound_before):.2f} s before the checks and "
        f"{min(figures.bound_after):.2f} s after them. In the full check, the `cardcheck` process peaked at "
        f"{figures.first_rss / MB:.0f} MB RSS"
        + (
            f" and, sampled, its process tree with the workers at {figures.first_tree_rss / MB:.0f} MB"
            if figures.first_tree_rss
            else ""
        )
        + f". The large notebook took {figures.big:.1f} s to check, and reading it without extracting "
        f"peaked at {figures.big_read_rss / MB:.0f} MB.",
        "",
        (
            "Unchanged notebooks come from the cache (size and mtime, then SHA-256), and a run whose claims and "
            "notebook results are all unchanged also reuses its verdicts. The other notebooks are read and "
            f"extracted in min(CPU count, notebooks) = {cores} worker processes once they add up to 4 MB, and the "
            "job's threads (`--workers`) hand them over and report progress. Plots are dropped from the bytes "
            "before the JSON is parsed, so they are never decoded or kept."
        ),
    ]
    if full_ratio > TARGET_FULL_RATIO:
        notes += [
            "",
            (
                f"The full check misses its target by a factor of {full_ratio / TARGET_FULL_RATIO:.0f}. The bound parses "
                f"{figures.workspace_bytes / MB / bound_value:.0f} MB/s, because most bytes are base64 plots that "
                "orjson copies as strings. The check also walks the outputs, HTML tables included "
                f"({read_only:.2f} s in one process), and runs the rule extractor over their text "
                f"({figures.extract_only:.2f} s in one process). Spread evenly over {cores} cores, that work alone "
                f"takes {floor:.2f} s, {floor / bound_value:.0f}x the bound, so the target needs a faster extractor "
                "and output walk rather than more processes."
            ),
        ]
    if change_extra > one_notebook:
        notes += [
            "",
            (
                "A run after one change reads only the changed notebook again (tests/test_cache.py checks this), but "
                f"it also decides every claim again from the {summary.get('evidence', 0):,} values (reading only the "
                "claimed metrics), because the verdicts of the unchanged run no longer apply. That comparison takes {figures.compare_seconds:.2f} s in one "
                "process, which is most of the extra time."
            ),
        ]
    if rerun_share >= TARGET_RERUN_SHARE:
        notes += [
            "",
            (
                f"The unchanged re-run misses its target by {figures.rerun - TARGET_RERUN_SHARE * figures.first:.2f} s. "
                f"Starting Python and importing the CLI alone takes about {min(figures.help_seconds):.2f} s (see "
                "`cardcheck --help`), and the rest is finding the notebooks, checking each against the cache and "
                "rebuilding its results, none of which depends on the size of the notebooks."
            ),
        ]
    if figures.big_rss >= memory_limit:
        notes += [
            "",
            (
                "The large notebook misses its memory target although reading it stays small, because the plots "
                "never reach the parser. The rest is the rule extractor's working memory on its long log."
            ),
        ]
    return "\n".join(intro + table + notes + [END]) + "\n"


def write_section(text: str, doc: Path) -> None:
    """Replace the scale section of ``doc``, or append it. Other sections stay as they are."""
    current = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if START in current and END in current:
        before = current[: current.index(START)]
        after = current[current.index(END) + len(END) :].lstrip("\n")
        updated = before + text + ("\n" + after if after else "")
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=int, default=1000)
    parser.add_argument("--total-mb", type=float, default=300)
    parser.add_argument("--big-mb", type=float, default=200)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each timed check, and notebooks changed one at a time",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100 notebooks of 30 MB in all and a 20 MB notebook, printed and not written to the doc",
    )
    parser.add_argument("--skip-no-cache", action="store_true", help="leave out the --no-cache run")
    parser.add_argument("--doc", type=Path, default=DOC, help="file to write the section to")
    parser.add_argument(
        "--no-doc", action="store_true", help="print the section instead of writing it"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args(argv)
    if args.quick:
        args.notebooks, args.total_mb, args.big_mb, args.no_doc = 100, 30, 20, True

    try:
        python = os.path.relpath(sys.executable, REPO)
    except ValueError:
        python = sys.executable
    if python.startswith(".."):
        python = "python"
    arguments = sys.argv[1:] if argv is None else argv
    command = " ".join([python, "bench/bench_scale.py", *(shlex.quote(a) for a in arguments)])
    work = Path(tempfile.mkdtemp(prefix="cardcheck-bench-"))
    try:
        figures = measure(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = render(figures, command)
    if args.no_doc:
        print(text)
    else:
        write_section(text, args.doc)
        print(text)
        print(f"wrote the scale section of {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
