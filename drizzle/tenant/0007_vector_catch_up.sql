-- The HNSW graph catches up behind the index step (DESIGN §5). A drizzle-kit `--custom` tenant
-- migration; "tenant_template" is replaced by the tenant's schema when applied.
--
-- `embedding_vec` stops being generated from `embedding`: the index step writes chunks with it
-- NULL, and shared/index/vector-catch-up.ts fills it (`embedding::vector(384)`) in small batches
-- when the tenant's pipeline is idle. Inserting into an HNSW graph costs milliseconds per row in
-- PGlite, many times the rest of the index step. Search covers the rows still waiting with an
-- exact scan, found through the partial index below, so a chunk is searchable by its vector as
-- soon as the index step commits. Only where pgvector exists; elsewhere there is no such column.
DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = '"tenant_template"."chunks"'::regclass AND attname = 'embedding_vec' AND NOT attisdropped
  ) THEN
    IF EXISTS (
      SELECT 1 FROM pg_attribute
      WHERE attrelid = '"tenant_template"."chunks"'::regclass AND attname = 'embedding_vec' AND attgenerated <> ''
    ) THEN
      EXECUTE 'ALTER TABLE "tenant_template"."chunks" ALTER COLUMN "embedding_vec" DROP EXPRESSION';
    END IF;
    EXECUTE 'CREATE INDEX IF NOT EXISTS "chunks_vector_pending" ON "tenant_template"."chunks" ("chunk_id") WHERE "embedding_vec" IS NULL AND "embed_dimensions" = 384';
  END IF;
END $$;
