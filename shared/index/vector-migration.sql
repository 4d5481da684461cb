-- pgvector for the chunk index, only where the server has the extension (DESIGN §5).
-- A drizzle-kit `--custom` tenant migration: "tenant_template" is replaced by the tenant's schema
-- when applied (shared/db/migrate.ts), including inside the EXECUTE strings.
--
-- `embedding_vec` is generated from `embedding real[]`, so the application writes one column and
-- the two can never disagree. Rows embedded with another width than 384 get NULL there, stay out
-- of the HNSW index and are searched by the exact scan over `embedding`.
-- HNSW uses pgvector's defaults (m = 16, ef_construction = 64); search sets hnsw.ef_search.
-- Without the extension (e.g. a Debian PostgreSQL without postgresql-NN-pgvector) nothing is
-- created and search falls back to an exact, bounded scan over `embedding real[]`.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector;
    EXECUTE 'ALTER TABLE "tenant_template"."chunks" ADD COLUMN IF NOT EXISTS "embedding_vec" vector(384) GENERATED ALWAYS AS (CASE WHEN "embed_dimensions" = 384 THEN "embedding"::vector(384) END) STORED';
    EXECUTE 'CREATE INDEX IF NOT EXISTS "chunks_embedding_hnsw" ON "tenant_template"."chunks" USING hnsw ("embedding_vec" vector_cosine_ops)';
  END IF;
END $$;
