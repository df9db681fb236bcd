"""`flask import`: ideas, votes, comments and people from CSV exports, in one transaction."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.services.errors import InvalidInput
from portal.services.idea_import import FILE_MAX_BYTES, FORMATS, read_export
from portal.services.idea_import_apply import KIND_LABELS, Plan, apply_plan, plan_import

PROBLEMS_SHOWN = 20

HELP = """Import ideas, votes, comments and people from CSV files.

PATHS are CSV files, or directories whose *.csv files are all read.

\b
--format own (the portal's own files, each optional; docs/import.md has every column):
  people.csv    email*, name, created_at
  ideas.csv     id*, title*, problem, solution, author_email, author_name,
                board (slug or name), category (name), stage (slug or name), created_at
  votes.csv     idea_id*, email*, created_at
  comments.csv  idea_id*, body*, id, parent_id, author_email, author_name, created_at
--format canny: the posts export (Title, Details, Board, Category, Status, Author Name,
  Author Email, Created At, Votes, Voters), and votes or comments exports if you have them.
--format uservoice: the suggestions export (Suggestion ID, Title, Description, Status,
  Creator Name, Creator Email, Created At, Votes; the full export's one row per supporter
  too), and the supporters and comments exports.

\b
Column names are matched whatever their case, spaces or underscores. Dates are ISO 8601;
without a time zone they are UTC. People are matched by email address, whatever its case:
an existing account is used; a new person gets an account without a password, and sets one
with "Forgot your password?". Statuses become the stage of that slug or name (or a known
synonym: open, complete, closed...); otherwise the first stage, and the report says so.

\b
Everything is written in one transaction, or nothing: a row with a problem (reported as
file:line) stops the import unless --skip-invalid, which leaves out those rows and whatever
hangs on them. Running the same import again adds nothing: what was imported is recorded.
"""


def _files(paths: tuple[Path, ...]) -> list[tuple[str, str]]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv")
            if not found:
                raise click.ClickException(f"{path} holds no .csv files.")
            files += found
        else:
            files.append(path)
    read: list[tuple[str, str]] = []
    for path in files:
        if path.stat().st_size > FILE_MAX_BYTES:
            raise click.ClickException(f"{path} is over {FILE_MAX_BYTES // 1_000_000} MB.")
        try:
            read.append((path.name, path.read_text(encoding="utf-8-sig")))
        except UnicodeDecodeError:
            raise click.ClickException(
                f"{path} is not UTF-8 text; save it from the spreadsheet as CSV UTF-8."
            ) from None
    names = [name for name, _ in read]
    if len(set(names)) != len(names):
        raise click.ClickException("Two of the files have the same name; rename one.")
    return read


def _report(plan: Plan, *, written: bool, dry_run: bool) -> None:
    click.echo(f"{'kind':<10}{'new':>8}{'imported before':>18}{'already here':>15}{'left out':>10}")
    for kind, tally in plan.tallies.items():
        click.echo(
            f"{KIND_LABELS[kind]:<10}{tally.new:>8}{tally.imported_before:>18}"
            f"{tally.already_here:>15}{tally.skipped:>10}"
        )
    if plan.notes:
        click.echo(f"\nNotes ({len(plan.notes)}):")
        for note in plan.notes[:PROBLEMS_SHOWN]:
            click.echo(f"  {note}")
        if len(plan.notes) > PROBLEMS_SHOWN:
            click.echo(f"  ... and {len(plan.notes) - PROBLEMS_SHOWN} more.")
    if plan.problems:
        click.echo(f"\nProblems ({len(plan.problems)}):", err=True)
        for problem in plan.problems[:PROBLEMS_SHOWN]:
            click.echo(f"  {problem}", err=True)
        if len(plan.problems) > PROBLEMS_SHOWN:
            click.echo(f"  ... and {len(plan.problems) - PROBLEMS_SHOWN} more.", err=True)
    if dry_run:
        click.echo("\nDry run: nothing was written.")
    elif written:
        click.echo("\nImported.")
    elif plan.problems:
        click.echo(
            "\nNothing was written. Correct the rows above, or run again with --skip-invalid "
            "to import the rest without them.",
            err=True,
        )
    else:
        click.echo("\nNothing new to import: everything is here already.")


@click.command("import", help=HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "source",
    type=click.Choice(FORMATS),
    default="own",
    show_default=True,
    help="Whose export the files are.",
)
@click.option(
    "--board",
    help="Board (slug or name) for ideas whose board column is empty or names no board; "
    "by default the first board.",
)
@click.option(
    "--category", help="Category (name) for ideas whose category column names no category."
)
@click.option("--dry-run", is_flag=True, help="Report what would be imported; write nothing.")
@click.option(
    "--skip-invalid", is_flag=True, help="Import the good rows, leaving out those with problems."
)
def import_command(
    paths: tuple[Path, ...],
    source: str,
    board: str | None,
    category: str | None,
    dry_run: bool,
    skip_invalid: bool,
) -> None:
    bundle = read_export(source, _files(paths))
    try:
        plan = plan_import(bundle, board_slug=board, category_name=category)
    except InvalidInput as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    blocked = bool(plan.problems) and not skip_invalid
    if dry_run or blocked or not plan.has_work:
        db.session.rollback()
        _report(plan, written=False, dry_run=dry_run)
        if blocked:
            raise SystemExit(1)
        return
    try:
        apply_plan(plan)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(
            "Another import wrote the same rows at the same time; nothing was written. "
            "Run it again: what the other one imported will be reported as there."
        ) from None
    except BaseException:
        db.session.rollback()
        raise
    _report(plan, written=True, dry_run=False)
