-- A small stand-in for the application database the backups protect (an ingest service's
-- submissions, projects, biomaterials and files), so the example can be tried end to end:
--
--   createdb -h 127.0.0.1 -U postgres ingest
--   psql -v ON_ERROR_STOP=1 -d postgresql://postgres@127.0.0.1:5432/ingest -f demo-data.sql
--
-- The restore drills in sexton.yaml count the rows of these tables in every restored copy.

CREATE TABLE project (
    id serial PRIMARY KEY,
    title text NOT NULL
);

CREATE TABLE submission_envelope (
    id serial PRIMARY KEY,
    project_id integer NOT NULL REFERENCES project (id),
    submitted_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE biomaterial (
    id serial PRIMARY KEY,
    submission_id integer NOT NULL REFERENCES submission_envelope (id),
    label text NOT NULL
);

CREATE TABLE file (
    id serial PRIMARY KEY,
    submission_id integer NOT NULL REFERENCES submission_envelope (id),
    name text NOT NULL,
    size bigint NOT NULL
);

INSERT INTO project (title)
SELECT 'project ' || n FROM generate_series(1, 20) AS n;

INSERT INTO submission_envelope (project_id)
SELECT 1 + n % 20 FROM generate_series(1, 60) AS n;

INSERT INTO biomaterial (submission_id, label)
SELECT 1 + n % 60, 'specimen ' || n FROM generate_series(1, 500) AS n;

INSERT INTO file (submission_id, name, size)
SELECT 1 + n % 60, 'reads_' || n || '.fastq.gz', 1000 * n FROM generate_series(1, 2000) AS n;
