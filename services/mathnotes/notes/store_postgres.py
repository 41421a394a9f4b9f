"""The notes on PostgreSQL + pgvector: ``text[]`` tags, ``jsonb`` answers, ``timestamptz``, tsvector words, HNSW.

Words: the stored ``words_tsv`` (``to_tsvector('simple', words)``, GIN-indexed; ``simple`` keeps every
token as it is, so the CJK bigrams computed in Python match as words do, with no contrib module), queried
with the terms quoted and joined by ``&`` (notes with every term, ranked by ``ts_rank``), then, when they
are fewer than asked, by ``|`` (any term): ranking every note with one common word is what costs.
Meaning: pgvector's HNSW index on ``embedding vector_cosine_ops`` (built with ``ef_construction = 200``,
migration 0002), with ``hnsw.ef_search`` set for the transaction to twice the ids wanted (at least
:data:`EF_SEARCH_MIN`, 400, at most 1,000): recall@10 against an exact scan 0.98 at 100,000 notes
where 100 gives 0.91 (``bench/notes.py``; 18 ms p95 at 400). The column is
``vector(1024)``: another ``EMBEDDING_DIMENSIONS`` turns meaning search off on PostgreSQL (logged at start).
pgvector 0.6 filters after the index scan, so an owner with few notes among many others can get fewer
than ``limit`` nearest notes; the planner uses the owner's index and an exact sort when that is cheaper.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from psycopg.types.json import Jsonb

from .store import Filters, Store

__all__ = ["DIMENSIONS", "EF_SEARCH_MIN", "PostgresStore", "vector_literal"]

DIMENSIONS = 1024  # the embedding column's size (migrations/postgres/0001_init.sql)
EF_SEARCH_MIN, EF_SEARCH_MAX = 400, 1000  # recall@10 0.98 at 100k notes (bench/notes.py)


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(format(float(x), ".7g") for x in vector) + "]"


class PostgresStore(Store):
    has_tag = "? = ANY(n.tags)"
    for_update = " FOR UPDATE"

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def tags_in(self, tags: Sequence[str]) -> Any:
        return list(tags)

    def tags_out(self, raw: Any) -> tuple[str, ...]:
        return tuple(raw or ())

    def answer_in(self, answer: dict[str, Any]) -> Any:
        return Jsonb(answer)

    def answer_out(self, raw: Any) -> dict[str, Any]:
        return raw if isinstance(raw, dict) else {}

    def time_in(self, moment: datetime) -> Any:
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    def time_out(self, raw: Any) -> datetime:
        moment: datetime = raw
        return moment.astimezone(timezone.utc)

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, Any]:
        return f"{column} = ANY(?)", list(values)

    def words(self, owner: str, terms: list[str], filters: Filters, limit: int) -> list[str]:
        safe = [t for t in terms if t.isalnum()]  # query_terms gives letters and digits; nothing else gets in
        if not safe:
            return []
        where, params = self.filters(filters)
        sql = (
            "WITH q AS (SELECT to_tsquery('simple', ?) AS q) SELECT n.id FROM notes n, q "
            f"WHERE n.owner = ? AND n.words_tsv @@ q.q{where} ORDER BY ts_rank(n.words_tsv, q.q) DESC, n.id LIMIT ?"
        )
        found: list[str] = []
        seen: set[str] = set()
        with self.db.connection() as conn:
            for joiner in (" & ", " | ") if len(safe) > 1 else (" | ",):  # every term first: a far smaller set
                query = joiner.join(f"'{t}'" for t in safe)
                rows = conn.execute(self.q(sql), (query, owner, *params, limit)).fetchall()
                found += [r[0] for r in rows if r[0] not in seen]
                seen.update(found)
                if len(found) >= limit:
                    break
        return found[:limit]

    def meaning(self, owner: str, vector: list[float], filters: Filters, limit: int) -> list[str]:
        return self.nearest(owner, vector, filters, limit, min(EF_SEARCH_MAX, max(EF_SEARCH_MIN, 2 * limit)))

    def nearest(self, owner: str, vector: list[float], filters: Filters, limit: int, ef_search: int) -> list[str]:
        """The ``limit`` nearest notes through the HNSW index searched at ``ef_search`` (bench.notes varies it)."""
        if len(vector) != DIMENSIONS:
            return []
        where, params = self.filters(filters)
        sql = (
            f"SELECT n.id FROM notes n WHERE n.owner = ? AND n.embedding IS NOT NULL{where} "
            "ORDER BY n.embedding <=> ?::vector LIMIT ?"
        )
        with self.db.transaction() as conn:
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
            rows = conn.execute(self.q(sql), (owner, *params, vector_literal(vector), limit)).fetchall()
        return [r[0] for r in rows]

    def set_embeddings(self, vectors: dict[str, list[float]]) -> None:
        rows = [(vector_literal(v), note_id) for note_id, v in vectors.items() if len(v) == DIMENSIONS]
        with self.db.transaction() as conn, conn.cursor() as cursor:
            cursor.executemany("UPDATE notes SET embedding = %s::vector WHERE id = %s", rows)
