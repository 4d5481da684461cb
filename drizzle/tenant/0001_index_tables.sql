CREATE TABLE "tenant_template"."chunks" (
	"chunk_id" text PRIMARY KEY NOT NULL,
	"doc_id" text NOT NULL,
	"batch_id" text NOT NULL,
	"file_id" text NOT NULL,
	"original_filename" text NOT NULL,
	"mime_type" text NOT NULL,
	"source_sha256" text NOT NULL,
	"page" integer NOT NULL,
	"start_char" integer NOT NULL,
	"end_char" integer NOT NULL,
	"element_types" text[] NOT NULL,
	"section_title" text,
	"text" text NOT NULL,
	"tsv" "tsvector" GENERATED ALWAYS AS (to_tsvector('english', "text")) STORED,
	"embedding" real[] NOT NULL,
	"embed_model" text NOT NULL,
	"embed_version" text NOT NULL,
	"embed_dimensions" integer NOT NULL,
	"ingested_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenant_template"."step_runs" (
	"doc_id" text NOT NULL,
	"step" text NOT NULL,
	"input_sha256" text NOT NULL,
	"code_version" text NOT NULL,
	"output_sha256" text NOT NULL,
	"completed_at" timestamp with time zone NOT NULL,
	CONSTRAINT "step_runs_pk" PRIMARY KEY("doc_id","step","input_sha256","code_version")
);
--> statement-breakpoint
CREATE INDEX "chunks_doc" ON "tenant_template"."chunks" USING btree ("doc_id","start_char");--> statement-breakpoint
CREATE INDEX "chunks_batch" ON "tenant_template"."chunks" USING btree ("batch_id");--> statement-breakpoint
CREATE INDEX "chunks_ingested" ON "tenant_template"."chunks" USING btree ("ingested_at");--> statement-breakpoint
CREATE INDEX "chunks_tsv" ON "tenant_template"."chunks" USING gin ("tsv");