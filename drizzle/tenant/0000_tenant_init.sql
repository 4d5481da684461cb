CREATE TABLE "tenant_template"."audit_outbox" (
	"event_id" text PRIMARY KEY NOT NULL,
	"ordinal" bigint GENERATED ALWAYS AS IDENTITY (sequence name "tenant_template"."audit_outbox_ordinal_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"event_type" text NOT NULL,
	"timestamp" text NOT NULL,
	"actor" text NOT NULL,
	"resource_type" text NOT NULL,
	"resource_id" text NOT NULL,
	"details" jsonb NOT NULL,
	"appended_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "tenant_template"."batches" (
	"batch_id" text PRIMARY KEY NOT NULL,
	"manifest_sha256" text NOT NULL,
	"manifest" jsonb NOT NULL,
	"receipt" jsonb NOT NULL,
	"status" text NOT NULL,
	"submitter" text,
	"submitted_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "tenant_template"."files" (
	"doc_id" text PRIMARY KEY NOT NULL,
	"batch_id" text NOT NULL,
	"file_id" text NOT NULL,
	"position" integer NOT NULL,
	"original_filename" text NOT NULL,
	"declared_mime" text NOT NULL,
	"detected_mime" text,
	"size_bytes" bigint,
	"sha256" text,
	"status" text NOT NULL,
	"storage_key" text,
	"duplicate_of" text,
	"scan_result" text,
	"stages" jsonb NOT NULL,
	"error" jsonb,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenant_template"."outbox" (
	"id" text PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"dedup_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"available_at" timestamp with time zone NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"sent_at" timestamp with time zone,
	"last_error" text
);
--> statement-breakpoint
CREATE TABLE "tenant_template"."receipts" (
	"receipt_id" text PRIMARY KEY NOT NULL,
	"batch_id" text NOT NULL,
	"file_id" text NOT NULL,
	"doc_id" text NOT NULL,
	"status" text NOT NULL,
	"sha256" text,
	"size_bytes" bigint,
	"duplicate_of" text,
	"reason" text,
	"message" text,
	"scan_result" text,
	"received_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_outbox_pending" ON "tenant_template"."audit_outbox" USING btree ("appended_at","ordinal");--> statement-breakpoint
CREATE UNIQUE INDEX "files_batch_file" ON "tenant_template"."files" USING btree ("batch_id","file_id");--> statement-breakpoint
CREATE INDEX "files_sha256" ON "tenant_template"."files" USING btree ("sha256");--> statement-breakpoint
CREATE INDEX "files_status" ON "tenant_template"."files" USING btree ("status");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_dedup" ON "tenant_template"."outbox" USING btree ("dedup_id");--> statement-breakpoint
CREATE INDEX "outbox_unsent" ON "tenant_template"."outbox" USING btree ("sent_at","available_at");--> statement-breakpoint
CREATE INDEX "receipts_batch" ON "tenant_template"."receipts" USING btree ("batch_id");