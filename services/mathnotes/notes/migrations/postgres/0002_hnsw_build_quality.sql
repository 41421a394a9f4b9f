-- The meaning index rebuilt with ef_construction = 200 (pgvector's default is 64; m stays 16).
-- bench/notes.py, 100,000 notes embedded in a real model's space (all-MiniLM-L6-v2), recall@10 of
-- the index against an exact scan at hnsw.ef_search 100 / 200 / 400: 0.87 / 0.91 / 0.95 built with
-- 64, 0.91 / 0.93 / 0.98 built with 200, for the same query time (p95 18-19 ms at 400). Building
-- costs twice as long (100,000 notes: 6.5 -> 12.7 min on 2 cores; a library of a few thousand notes:
-- seconds, once, here), and each saved note's insert a little more, in the writer thread.
-- Re-runnable: the index is dropped if present and built again.
DROP INDEX IF EXISTS notes_embedding;
CREATE INDEX notes_embedding ON notes USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200);
