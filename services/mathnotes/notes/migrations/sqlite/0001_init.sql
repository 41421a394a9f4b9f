-- Notes library, version 1 (SQLite). Idempotent: every statement may run again.
-- seq is the rowid the full-text index points at (an explicit INTEGER PRIMARY KEY: VACUUM keeps it).
CREATE TABLE IF NOT EXISTS notes (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',  -- a JSON array of strings
    source TEXT NOT NULL,
    task TEXT NOT NULL,
    language TEXT NOT NULL,
    model TEXT NOT NULL,
    checked_steps INTEGER NOT NULL DEFAULT 0,
    wrong_steps INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,  -- ISO 8601 UTC, fixed width: sorts as text
    updated_at TEXT NOT NULL,
    image_type TEXT,
    -- the large columns last, the thumbnail very last: reading a column after a large value walks that
    -- value's overflow pages (measured: a meaning scan 15 times slower with the image before the vector)
    embedding BLOB,  -- float32 little-endian
    answer TEXT NOT NULL,  -- the answer object as JSON
    body TEXT NOT NULL,
    words TEXT NOT NULL,  -- notes/text.tokens(title + body) joined by spaces
    image BLOB
);
CREATE INDEX IF NOT EXISTS notes_owner_created ON notes (owner, created_at DESC, id);

CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(
    words, content='notes', content_rowid='seq', tokenize='unicode61 remove_diacritics 0'
);
CREATE TRIGGER IF NOT EXISTS notes_fts_insert AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts (rowid, words) VALUES (new.seq, new.words);
END;
CREATE TRIGGER IF NOT EXISTS notes_fts_delete AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, words) VALUES ('delete', old.seq, old.words);
END;
CREATE TRIGGER IF NOT EXISTS notes_fts_update AFTER UPDATE OF words ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, words) VALUES ('delete', old.seq, old.words);
    INSERT INTO notes_fts (rowid, words) VALUES (new.seq, new.words);
END;

-- owner and created_at are the note's (they never change), so exact matches are one range of the key
-- index; the store always sets them (a row without an owner is found by no one)
CREATE TABLE IF NOT EXISTS note_formulas (
    note_id TEXT NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    latex TEXT NOT NULL,
    norm TEXT NOT NULL,
    key TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (note_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS note_formulas_key ON note_formulas (owner, key, created_at DESC, note_id);

-- the symbol n-grams of a note's formulas; owner and created_at are the note's (they never change), so
-- "the owner's newest notes with this gram" is one bounded range of the lookup index
CREATE TABLE IF NOT EXISTS note_formula_grams (
    note_id TEXT NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    gram TEXT NOT NULL,
    PRIMARY KEY (note_id, gram)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS note_formula_grams_lookup ON note_formula_grams (owner, gram, created_at DESC, note_id);

CREATE TABLE IF NOT EXISTS search_log (
    at TEXT NOT NULL,
    owner TEXT NOT NULL,
    modes TEXT NOT NULL,
    ms REAL NOT NULL,
    results INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS search_log_at ON search_log (at);
