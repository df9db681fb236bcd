"""Full-text search over ideas: SQLite FTS5 or a PostgreSQL tsvector, behind one interface.

The search structures themselves are created with the ideas table (see the end of
portal/models/idea.py) and by the migration that introduced them.

User text never reaches SQL or a query language as typed: it is cut into words (runs of
Unicode letters and digits), stop words are dropped, and each word is quoted before it is
bound as a parameter. Quotes, brackets, AND/OR/NEAR, `*`, `:` or `-` are therefore plain
separators, and junk gives no results rather than an error.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    Integer,
    Select,
    Subquery,
    and_,
    bindparam,
    column,
    false,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.orm import InstrumentedAttribute

from portal import visibility
from portal.extensions import db
from portal.models import Idea
from portal.services.highlighting import MARK_END, MARK_START, excerpt, render_marked

MAX_PAGE_SIZE = 100
MAX_WORDS = 12
MAX_WORD_LENGTH = 40
SIMILAR_MIN_CHARS = 3
# How many of the newest matches a search ranks against each other (see search_ideas). The
# search page shows at most a thousand results (fifty pages of twenty).
RANKED_MATCHES = 1_000
# How many matches a search counts exactly; past it, the page says "more than" that many.
COUNTED_MATCHES = 1_000

# Objects Alembic autogenerate cannot describe: the FTS5 table with the shadow tables FTS5
# creates beside it (ideas_fts_data, _idx, _docsize, _config, _content), and on PostgreSQL the
# generated tsvector column with its GIN index.
FTS_TABLE = "ideas_fts"
PG_INDEX = "ix_ideas_search"
PG_VECTOR_COLUMN = "search_vector"

# PostgreSQL's 'english' stop words (snowball). Dropping them on both databases makes the two
# agree: PostgreSQL ignores them anyway, and on SQLite "the" would otherwise match every idea.
STOP_WORDS = frozenset(
    re.findall(
        r"\w+",
        """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can did do does doing don down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own s same she should so some such t than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with you your yours yourself yourselves
""",
    )
)

_WORD = re.compile(r"[^\W_]+")

# PostgreSQL's headline parser treats `<...>` as an HTML tag and will not mark words inside;
# `<` is swapped for this character on the way in and back on the way out.
_PG_LT = "\ue002"

_fts = table(
    FTS_TABLE,
    column("rowid", Integer),
    column("title"),
    column("problem"),
    column("solution"),
)


@dataclass(frozen=True)
class SearchHit:
    idea: Idea
    rank: float
    title_html: Markup
    excerpt_html: Markup


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    total: int


@dataclass(frozen=True)
class _Terms:
    words: tuple[str, ...]
    # Whether the last word may also match as the start of a longer word ("mo" -> "mode").
    prefix_last: bool


def search_ideas(
    text: str, *, viewer: Any, limit: int = 20, offset: int = 0, board_id: int | None = None
) -> SearchPage:
    """The ideas this person may see matching every word of `text` (on one board, if given),
    best first, with the matches marked.

    Matches are counted up to COUNTED_MATCHES + 1 (as far as the search page reaches), and
    only the newest RANKED_MATCHES matches are ranked against each other; older ones follow
    them, newest first. Ranking, or counting, every match of a common word (a quarter of all
    ideas) cost ten times the rest of the search together. A query matching fewer ideas than
    that is ranked in full.

    Five queries for a page: where the ranked matches begin, the count, the page's ids by rank
    (a page that runs past the ranked matches takes the rest from the older ones in a sixth),
    then those ideas, then their marked-up text.
    """
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    offset = max(0, int(offset))
    terms = _terms(text, min_word_length=1)
    if terms is None:
        return SearchPage(hits=[], total=0)

    visible = visibility.listed(viewer, hidden_for_team=False)
    if board_id is not None:  # within one board
        visible = and_(visible, Idea.board_id == board_id)
    total, ranked, since = _count(terms, visible)
    rows: list[Any] = []
    if offset < ranked:
        rows += _ranked_page(terms, visible, since=since, limit=limit, offset=offset)
    if len(rows) < limit and total > ranked:
        rows += _older_page(
            terms, visible, before=since, limit=limit - len(rows), offset=max(0, offset - ranked)
        )
    if not rows:
        # Paged past the end: the total still says how many there are.
        return SearchPage(hits=[], total=total)

    ids = [row.idea_id for row in rows]
    loaded = {idea.id: idea for idea in db.session.scalars(select(Idea).where(Idea.id.in_(ids)))}
    marked = _highlighted_text(terms, ids)
    hits = []
    for idea, rank in ((loaded[row.idea_id], row.rank) for row in rows):
        title, problem, solution = marked.get(idea.id, (None, None, None))
        hits.append(
            SearchHit(
                idea=idea,
                rank=float(rank),
                title_html=render_marked(title, idea.title),
                excerpt_html=excerpt(problem, idea.problem, solution, idea.solution),
            )
        )
    return SearchPage(hits=hits, total=total)


def matching_idea_ids(text: str, *, viewer: Any) -> Subquery:
    """A subquery of (idea_id, rank) for the ideas matching `text` that this person may see
    listed, to join with other filters.

    Order by `rank` descending for best first.

        matches = search.matching_idea_ids(q, viewer=current_user)
        select(Idea).join(matches, matches.c.idea_id == Idea.id).order_by(
            matches.c.rank.desc(), Idea.id.desc())
    """
    terms = _terms(text, min_word_length=1)
    if terms is None:
        return (
            select(
                literal_column("NULL", Integer).label("idea_id"),
                literal_column("NULL", Float).label("rank"),
            )
            .where(false())
            .subquery("search_matches")
        )
    matches = _matches(terms, "AND")
    stmt = (
        select(matches.c.idea_id, matches.c.rank)
        .join(Idea, Idea.id == matches.c.idea_id)
        .where(visibility.listed(viewer, hidden_for_team=False))
    )
    return stmt.subquery("search_matches")


def similar_ideas(
    title: str, *, viewer: Any, limit: int = 5, exclude_id: int | None = None
) -> list[Idea]:
    """Ideas this person may see sharing any meaningful word with a title being typed, best
    first.

    For suggesting duplicates while an idea is written: any word may match (the last one
    also as a prefix), so "export excel" suggests ideas about either.
    """
    if not isinstance(title, str) or len(title.strip()) < SIMILAR_MIN_CHARS:
        return []
    terms = _terms(title, min_word_length=2)
    if terms is None:
        return []
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    matches = _matches(terms, "OR")
    stmt = (
        select(Idea)
        .join(matches, matches.c.idea_id == Idea.id)
        .where(visibility.listed(viewer, hidden_for_team=False))
        .order_by(matches.c.rank.desc(), Idea.id.desc())
        .limit(limit)
    )
    if exclude_id is not None:
        stmt = stmt.where(Idea.id != exclude_id)
    return list(db.session.scalars(stmt))


def autogenerate_include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's include_object hook: leave the search structures out of autogenerate.

    They are built by hand (migration and create_all listeners), differ by database, and
    Alembic cannot describe an FTS5 table or compare an expression index.
    """
    if type_ == "table" and name is not None:
        return not (name == FTS_TABLE or name.startswith(FTS_TABLE + "_"))
    if type_ == "index":
        return name != PG_INDEX
    if type_ == "column":
        return name != PG_VECTOR_COLUMN
    return True


# Words ------------------------------------------------------------------------------------


def _terms(text: str, *, min_word_length: int) -> _Terms | None:
    """The searchable words of user text, or None when nothing searchable is left."""
    if not isinstance(text, str):
        return None
    text = unicodedata.normalize("NFKC", text[: MAX_WORDS * (MAX_WORD_LENGTH + 1) * 4])
    raw = _WORD.findall(text.lower())
    if not raw:
        return None
    # A word still being typed: the text does not end after it.
    prefix_last = not text[-1:].isspace()
    last = raw[-1]
    words: list[str] = []
    for word in raw:
        word = word[:MAX_WORD_LENGTH]
        if word in STOP_WORDS or len(word) < min_word_length or word in words:
            continue
        words.append(word)
    if not words:
        return None
    words = words[:MAX_WORDS]
    return _Terms(words=tuple(words), prefix_last=prefix_last and words[-1] == last)


def _matches(terms: _Terms, operator: str, *, since: int = 0) -> Subquery:
    """(idea_id, rank) of every idea, hidden or not, matching all ("AND") or any ("OR") word,
    from id `since` on.

    On SQLite the ranking function must sit in the same SELECT as the MATCH, and that SELECT
    must not also hold a window function, so callers join this as a subquery.
    """
    if _dialect() == "postgresql":
        query = _pg_query(terms, "&" if operator == "AND" else "|")
        stmt = select(Idea.id.label("idea_id"), _pg_rank(query).label("rank")).where(
            _pg_vector().bool_op("@@")(query)
        )
        if since:
            stmt = stmt.where(Idea.id >= since)
    else:
        stmt = select(_fts.c.rowid.label("idea_id"), _sqlite_rank().label("rank")).where(
            _sqlite_match(terms, operator)
        )
        if since:
            stmt = stmt.where(_fts.c.rowid >= since)
    return stmt.subquery("fts_matches")


def _match_ids(terms: _Terms) -> Select[int]:
    """The ids of every idea, hidden or not, matching all the words, unranked."""
    if _dialect() == "postgresql":
        return select(Idea.id.label("idea_id")).where(
            _pg_vector().bool_op("@@")(_pg_query(terms, "&"))
        )
    return select(_fts.c.rowid.label("idea_id")).where(_sqlite_match(terms, "AND"))


def _ranked_since(terms: _Terms) -> ColumnElement[int]:
    """SQL: the id of the RANKED_MATCHES-th newest idea matching all the words, hidden or not;
    0 when fewer match. The matches from it on are ranked, the older ones listed newest first.
    """
    newest = _match_ids(terms).order_by(literal_column("idea_id").desc())
    return func.coalesce(
        newest.offset(RANKED_MATCHES - 1).limit(1).scalar_subquery(), 0, type_=Integer
    )


def _sqlite_match(terms: _Terms, operator: str) -> ColumnElement[bool]:
    # Every word becomes an FTS5 string ("..."), so nothing in it is query syntax; the words
    # hold only letters and digits, but a stray quote would be doubled all the same.
    phrases = ['"' + word.replace('"', '""') + '"' for word in terms.words]
    if terms.prefix_last:
        phrases[-1] += "*"
    expression = f" {operator} ".join(phrases)
    return literal_column(FTS_TABLE).op("MATCH")(bindparam("fts_query", expression, unique=True))


def _sqlite_rank() -> ColumnElement[float]:
    # bm25 is lower for better matches; a title match counts ten times a body match.
    return -func.bm25(literal_column(FTS_TABLE), 10.0, 1.0, 1.0)


def _pg_vector() -> ColumnElement[Any]:
    """The stored, indexed tsvector of each idea (a generated column; see portal/models/idea.py)."""
    return literal_column("ideas.search_vector", type_=TSVECTOR)


def _pg_query(terms: _Terms, operator: str) -> ColumnElement[Any]:
    # Each word is a quoted tsquery lexeme ('word'), the last optionally a prefix ('mo':*).
    lexemes = ["'" + word.replace("'", "''") + "'" for word in terms.words]
    if terms.prefix_last:
        lexemes[-1] += ":*"
    expression = f" {operator} ".join(lexemes)
    return func.to_tsquery(
        literal_column("'english'"), bindparam("ts_query", expression, unique=True), type_=TSQUERY
    )


def _pg_rank(query: ColumnElement[Any]) -> ColumnElement[float]:
    # Weights for D, C, B, A: a title (A) match is worth five body (B) matches. Normalisation 1
    # divides by the log of the length, so a long text does not win by repetition alone.
    weights: ColumnElement[Any] = literal_column("'{0.1, 0.2, 0.2, 1.0}'::float4[]")
    return func.ts_rank_cd(weights, _pg_vector(), query, 1, type_=Float)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _count(terms: _Terms, visible: ColumnElement[bool]) -> tuple[int, int, int]:
    """How many visible ideas match, counted up to COUNTED_MATCHES + 1 (the page says "more
    than" past it); how many of them are among the ranked (newest) matches, exactly; and the id
    from which matches are ranked (0 when every match is).

    Counting every match of a common word looked up each of tens of thousands of ideas for
    who may see it, most of an uncached search's time; the search page reaches no further than
    COUNTED_MATCHES results anyway.
    """
    since = int(db.session.scalar(select(_ranked_since(terms))) or 0)
    if _dialect() == "postgresql":
        # The vector is a column of ideas: one table, no second look-up of each match.
        idea_id: ColumnElement[int] | InstrumentedAttribute[int] = Idea.id
        matching = select(Idea.id).where(_pg_vector().bool_op("@@")(_pg_query(terms, "&")))
    else:
        ids = _match_ids(terms).subquery("fts_ids")
        idea_id = ids.c.idea_id
        matching = select(ids.c.idea_id).join(Idea, Idea.id == ids.c.idea_id)
    matching = matching.where(visible)
    counted = matching.limit(COUNTED_MATCHES + 1).subquery("counted")
    ranked = matching.where(idea_id >= since).subquery("ranked")
    row = db.session.execute(
        select(
            select(func.count()).select_from(counted).scalar_subquery().label("total"),
            select(func.count()).select_from(ranked).scalar_subquery().label("ranked"),
        )
    ).one()
    return int(row.total), int(row.ranked), since


def _ranked_page(
    terms: _Terms, visible: ColumnElement[bool], *, since: int, limit: int, offset: int
) -> list[Any]:
    """A page of the visible matches from id `since` on, best first."""
    if _dialect() == "postgresql":
        query = _pg_query(terms, "&")
        rank = _pg_rank(query).label("rank")
        stmt = select(Idea.id.label("idea_id"), rank).where(
            _pg_vector().bool_op("@@")(query), Idea.id >= since
        )
        best_first = (rank.desc(), Idea.id.desc())
    else:
        matches = _matches(terms, "AND", since=since)
        stmt = select(matches.c.idea_id, matches.c.rank).join(Idea, matches.c.idea_id == Idea.id)
        best_first = (matches.c.rank.desc(), matches.c.idea_id.desc())
    stmt = stmt.where(visible).order_by(*best_first).limit(limit).offset(offset)
    return list(db.session.execute(stmt).all())


def _older_page(
    terms: _Terms, visible: ColumnElement[bool], *, before: int, limit: int, offset: int
) -> list[Any]:
    """A page of the visible matches older than id `before`, newest first.

    The match, its rank and the join sit in one SELECT read in the search index's own order,
    so nothing is sorted and only the rows on the page are ranked.
    """
    if _dialect() == "postgresql":
        query = _pg_query(terms, "&")
        stmt = select(Idea.id.label("idea_id"), _pg_rank(query).label("rank")).where(
            _pg_vector().bool_op("@@")(query), Idea.id < before
        )
        newest_first = Idea.id.desc()
    else:
        stmt = (
            select(_fts.c.rowid.label("idea_id"), _sqlite_rank().label("rank"))
            .join(Idea, Idea.id == _fts.c.rowid)
            .where(_sqlite_match(terms, "AND"), _fts.c.rowid < before)
        )
        newest_first = _fts.c.rowid.desc()
    stmt = stmt.where(visible).order_by(newest_first).limit(limit).offset(offset)
    return list(db.session.execute(stmt).all())


# Marking matches (turned into safe HTML by services.highlighting) --------------------------

# (title, problem, solution) with the matched words between highlighting's markers.
MarkedText = tuple[str | None, str | None, str | None]


def _highlighted_text(terms: _Terms, idea_ids: list[int]) -> dict[int, MarkedText]:
    """Title, problem and solution of each idea with the matched words between markers.

    The database marks the words, so stemming and prefixes agree with the search itself.
    """
    if _dialect() == "postgresql":
        stmt = _pg_headlines(terms, idea_ids)
    else:
        stmt = _sqlite_highlights(terms, idea_ids)
    return {row[0]: (row[1], row[2], row[3]) for row in db.session.execute(stmt)}


def _pg_headlines(terms: _Terms, idea_ids: list[int]) -> Select[int, str, str, str]:
    # Every word of the query is marked wherever it occurs, hence OR.
    query = _pg_query(terms, "|")
    options: BindParameter[str] = bindparam(
        "headline_options",
        f"StartSel={MARK_START}, StopSel={MARK_END}, HighlightAll=true",
        unique=True,
    )

    def headline(col: InstrumentedAttribute[str]) -> ColumnElement[str]:
        return func.replace(
            func.ts_headline(
                literal_column("'english'"), func.translate(col, "<", _PG_LT), query, options
            ),
            _PG_LT,
            "<",
        )

    return select(
        Idea.id, headline(Idea.title), headline(Idea.problem), headline(Idea.solution)
    ).where(Idea.id.in_(idea_ids))


def _sqlite_highlights(terms: _Terms, idea_ids: list[int]) -> Select[int, str, str, str]:
    def highlight(index: int) -> ColumnElement[str]:
        return func.highlight(literal_column(FTS_TABLE), index, MARK_START, MARK_END)

    # `rowid IN (...)` alone would run the MATCH once per id, and a prefix ("export"*) builds
    # the doclist of every word it covers each time: 20 times a common word's 27,000 entries.
    # Written `rowid + 0`, the ids are checked on one pass over the match, which the range
    # (an FTS5 constraint) keeps to the ids' span.
    return (
        select(_fts.c.rowid, highlight(0), highlight(1), highlight(2))
        .where(_sqlite_match(terms, "OR"))
        .where(_fts.c.rowid.between(min(idea_ids), max(idea_ids)))
        .where((_fts.c.rowid + 0).in_(idea_ids))
    )
