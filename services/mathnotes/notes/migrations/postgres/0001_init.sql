-- Notes library, version 1 (PostgreSQL + pgvector). Idempotent: every statement may run again.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS notes (
    id text PRIMARY KEY,
    owner text NOT NULL,
    title text NOT NULL,
    tags text[] NOT NULL DEFAULT '{}',
    source text NOT NULL,
    task text NOT NULL,
    language text NOT NULL,
    model text NOT NULL,
    answer jsonb NOT NULL,
    body text NOT NULL,
    -- notes/text.tokens(title + body) joined by spaces: words, and character bigrams of CJK runs
    words text NOT NULL,
    words_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', words)) STORED,
    checked_steps integer NOT NULL DEFAULT 0,
    wrong_steps integer NOT NULL DEFAULT 0,
    image bytea,
    image_type text,
    embedding vector(1024),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_owner_created ON notes (owner, created_at DESC, id);
CREATE INDEX IF NOT EXISTS notes_words ON notes USING gin (words_tsv);
CREATE INDEX IF NOT EXISTS notes_embedding ON notes USING hnsw (embedding vector_cosine_ops);

-- owner and created_at are the note's (they never change), so exact matches are one range of the key
-- index; the store always sets them (a row without an owner is found by no one)
CREATE TABLE IF NOT EXISTS note_formulas (
    note_id text NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    position integer NOT NULL,
    latex text NOT NULL,
    norm text NOT NULL,
    key text NOT NULL,
    owner text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (note_id, position)
);
CREATE INDEX IF NOT EXISTS note_formulas_key ON note_formulas (owner, key, created_at DESC, note_id);

-- the symbol n-grams of a note's formulas; owner and created_at are the note's (they never change), so
-- "the owner's newest notes with this gram" is one bounded range of the lookup index
CREATE TABLE IF NOT EXISTS note_formula_grams (
    note_id text NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    owner text NOT NULL,
    created_at timestamptz NOT NULL,
    gram text NOT NULL,
    PRIMARY KEY (note_id, gram)
);
CREATE INDEX IF NOT EXISTS note_formula_grams_lookup ON note_formula_grams (owner, gram, created_at DESC, note_id);

CREATE TABLE IF NOT EXISTS search_log (
    at timestamptz NOT NULL,
    owner text NOT NULL,
    modes text NOT NULL,
    ms real NOT NULL,
    results integer NOT NULL
);
CREATE INDEX IF NOT EXISTS search_log_at ON search_log (at);

-- Grafana's read-only role (created by the deployment, with its password) reads what the dashboard needs:
-- never an image, an answer or an embedding.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mathnotes_grafana') THEN
        GRANT SELECT (id, owner, task, language, source, created_at, checked_steps, wrong_steps)
            ON notes TO mathnotes_grafana;
        GRANT SELECT ON note_formulas, search_log TO mathnotes_grafana;
    END IF;
END
$$;
