"""The ``cardcheck`` command: check a model card against a workspace's notebooks.

Exit status: 0 when no claim is a mismatch, 1 when at least one is, 2 for bad
input (a missing card or workspace, a card without claims, a bad option).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .runner import DEFAULT_WORKERS

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardcheck",
        description="Check the numbers in a model card against the saved outputs of a workspace's notebooks.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify",
        help="verify a model card",
        description="Verify every metric claim of a Markdown model card against notebook outputs. "
        "Exit status: 0 no mismatch, 1 at least one mismatch, 2 bad input.",
    )
    verify.add_argument("card", type=Path, help="the model card (Markdown)")
    verify.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="workspace folder whose notebooks are read (default: the card's folder)",
    )
    verify.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"notebooks read in parallel (default {DEFAULT_WORKERS})",
    )
    verify.add_argument(
        "--notebook",
        action="append",
        dest="notebooks",
        default=None,
        metavar="PATH",
        help="check only this notebook (workspace-relative path); repeat for more",
    )
    verify.add_argument(
        "--format", choices=("text", "json", "markdown"), default="text", help="report format"
    )
    verify.add_argument(
        "--output", type=Path, default=None, help="write the report to this file instead of stdout"
    )
    verify.add_argument("--quiet", action="store_true", help="print no per-notebook progress")
    cache = verify.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="folder of the cache of unchanged notebooks' results "
        "(default: $XDG_CACHE_HOME/cardcheck or ~/.cache/cardcheck)",
    )
    cache.add_argument(
        "--no-cache", action="store_true", help="read every notebook again and store nothing"
    )

    llm = verify.add_argument_group("LLM extraction (optional; rules only by default)")
    llm.add_argument(
        "--provider",
        choices=("none", "openai", "anthropic", "openai-compatible"),
        default="none",
        help="LLM provider that extracts metrics the rules cannot read (default none)",
    )
    llm.add_argument("--model", default="", help="model name, passed to the provider as is")
    llm.add_argument(
        "--base-url",
        default="",
        help="API base URL, for OpenAI-compatible servers (for example http://127.0.0.1:8000/v1)",
    )
    llm.add_argument(
        "--api-key-env",
        default="",
        help="environment variable that contains the API key (default OPENAI_API_KEY or ANTHROPIC_API_KEY)",
    )
    llm.add_argument(
        "--rpm", type=float, default=None, help="maximum LLM requests per minute across all workers"
    )
    llm.add_argument(
        "--llm-timeout",
        type=float,
        default=60.0,
        help="seconds before one LLM request times out (default 60)",
    )
    llm.add_argument(
        "--llm-cache",
        type=Path,
        default=None,
        help="SQLite file caching LLM results (default: per-user cache folder)",
    )
    return parser


def _llm_settings(args: argparse.Namespace):
    if args.provider == "none":
        return None
    from .llm import LLMSettings

    return LLMSettings(
        provider=args.provider,
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        timeout=args.llm_timeout,
        requests_per_minute=args.rpm,
        cache_path=args.llm_cache,
    )


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    from rich.console import Console

    # Messages and progress lines stay one line each whatever the width, so logs can be grepped.
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return _verify(args, errors)
    except KeyboardInterrupt:
        errors.print("cancelled", markup=False)
        return 130


def _verify(args: argparse.Namespace, errors) -> int:
    from .errors import InputError
    from .report import render_markdown, render_terminal
    from .runner import Job, JobOptions

    card = args.card
    workspace = args.repo if args.repo is not None else card.parent
    if args.workers < 1:
        errors.print(f"error: --workers must be at least 1, got {args.workers}", markup=False)
        return EXIT_BAD_INPUT
    problem = _card_problem(card) or _workspace_problem(workspace)
    if problem:
        errors.print(f"error: {problem}", markup=False)
        return EXIT_BAD_INPUT
    notebooks = _workspace_relative(args.notebooks, workspace)

    try:
        settings = _llm_settings(args)
    except (
        InputError,
        ValueError,
    ) as error:  # LLMSettings rejects invalid settings with ValueError
        errors.print(f"error: {error}", markup=False)
        return EXIT_BAD_INPUT
    options = JobOptions(
        workers=args.workers,
        provider=args.provider,
        model=args.model,
        base_url=args.base_url,
        notebooks=notebooks,
        llm=settings,
        use_cache=not args.no_cache,
        cache_dir=str(args.cache_dir) if args.cache_dir is not None else None,
    )
    job = Job(workspace=workspace, card_path=card, card_label=str(card), options=options)

    progress = None if args.quiet else _Progress(errors)
    if progress:
        job.subscribe(progress.on_event)
    try:
        report = job.run()
    except KeyboardInterrupt:
        job.cancel()
        raise
    finally:
        if progress:
            progress.close()

    if report["state"] == "failed":
        errors.print(f"error: {report['error']}", markup=False)
        return EXIT_BAD_INPUT

    try:
        _write_report(report, args, render_markdown, render_terminal)
    except OSError as error:
        errors.print(
            f"error: cannot write the report to {args.output}: {error.strerror}", markup=False
        )
        return EXIT_BAD_INPUT
    if report.get("message") and not args.quiet:
        errors.print(report["message"], markup=False)
    if report["summary"]["notebooks_done"] == 0:
        # Every claim is "no_evidence" then, and a CI gate must not pass on that.
        errors.print(
            "error: no notebook could be read, so no claim was checked; see the notebook errors above",
            markup=False,
        )
        return EXIT_BAD_INPUT
    return EXIT_MISMATCH if report["summary"]["mismatch"] else EXIT_OK


def _card_problem(card: Path) -> str:
    if not card.exists():
        return f"model card not found: {card}"
    if card.is_dir():
        return f"model card is a folder, not a Markdown file: {card}"
    if not card.is_file():
        return f"model card is not a regular file: {card}"
    if card.suffix.lower() == ".ipynb":
        return f"{card} is a notebook; give the model card's Markdown file (such as README.md)"
    return ""


def _workspace_problem(workspace: Path) -> str:
    if not workspace.exists():
        return f"workspace folder not found: {workspace}"
    if not workspace.is_dir():
        return f"workspace is not a folder: {workspace} (--repo takes the folder that holds the notebooks)"
    return ""


def _workspace_relative(notebooks: list[str] | None, workspace: Path) -> list[str] | None:
    """Accept --notebook paths relative to the workspace or to the current folder."""
    if notebooks is None:
        return None
    root = workspace.resolve()
    relative = []
    for name in notebooks:
        path = Path(name)
        if not (root / path).exists() and path.exists():
            try:
                name = path.resolve().relative_to(root).as_posix()
            except ValueError:
                pass  # outside the workspace: the job reports it as not found
        relative.append(name)
    return relative


def _write_report(report: dict, args: argparse.Namespace, render_markdown, render_terminal) -> None:
    from rich.console import Console

    if args.format == "json":
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    elif args.format == "markdown":
        text = render_markdown(report)
    else:
        text = None

    if args.output is not None:
        if text is None:
            with args.output.open("w", encoding="utf-8") as handle:
                render_terminal(
                    report, Console(file=handle, width=160, no_color=True, highlight=False)
                )
        else:
            args.output.write_text(text, encoding="utf-8")
        return
    if text is None:
        render_terminal(report, Console(highlight=False))
    else:
        sys.stdout.write(text)


class _Progress:
    """Per-notebook progress lines, and a progress bar when stderr is a terminal."""

    def __init__(self, console) -> None:
        self.console = console
        self.bar = None
        self.task = None
        self.total = 0
        if console.is_terminal and not os.environ.get("CI"):
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("Reading notebooks"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )

    def on_event(self, event: dict) -> None:
        if event["type"] != "notebook" or "index" not in event:
            if event["type"] == "notebook" and event.get("status") == "skipped":
                self.console.print(f"Skipped {event['path']}: {event['error']}", markup=False)
            return
        index, total = event["index"], event["total"]
        if self.bar is not None and self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("notebooks", total=total)
        name = event["path"]
        if event["status"] == "done":
            line = f"[{index}/{total}] Processed {name}"
        elif event["status"] == "failed":
            line = f"[{index}/{total}] Failed {name}: {event['error']}"
        else:
            line = f"[{index}/{total}] Cancelled {name}"
        self.console.print(line, markup=False)
        if self.bar is not None:
            self.bar.update(self.task, completed=index)

    def close(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.stop()


if __name__ == "__main__":
    sys.exit(main())
