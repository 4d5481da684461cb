-- Column storage of the chunk index (DESIGN §5). A drizzle-kit `--custom` tenant migration after
-- the vector one; "tenant_template" is replaced by the tenant's schema when applied.
--
-- A chunk row (~800 chars of text, ~1 kB tsvector, a 1.5 kB real[] and, with pgvector, a 1.5 kB
-- vector) is over PostgreSQL's 2 kB TOAST threshold. By default the tsvector is compressed and
-- moved out of line with the vectors, and full-text ranking then de-TOASTs it for every matching
-- row: measured 4-6x slower in PGlite. MAIN keeps the tsvector in the row; EXTERNAL moves the
-- real[] out of line without first trying to compress floats that do not compress (pgvector's
-- `vector` type is EXTERNAL already). Applies to rows written afterwards; a re-index rewrites old ones.
ALTER TABLE "tenant_template"."chunks" ALTER COLUMN "tsv" SET STORAGE MAIN;
--> statement-breakpoint
ALTER TABLE "tenant_template"."chunks" ALTER COLUMN "embedding" SET STORAGE EXTERNAL;
