CREATE TABLE "audit_exports" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"status" text NOT NULL,
	"format" text NOT NULL,
	"selection" jsonb NOT NULL,
	"requested_by" text NOT NULL,
	"schedule_id" text,
	"event_count" bigint,
	"file_sha256" text,
	"file_key" text,
	"manifest_key" text,
	"manifest" jsonb,
	"error" text,
	"created_at" timestamp with time zone NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "audit_schedules" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"cron" text NOT NULL,
	"format" text NOT NULL,
	"enabled" integer DEFAULT 1 NOT NULL,
	"last_run_at" timestamp with time zone,
	"next_run_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "control_outbox" (
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
CREATE TABLE "provisioning_runs" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"deadline_at" timestamp with time zone NOT NULL,
	"stuck_reported_at" timestamp with time zone,
	"error" text,
	"requested_by" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "provisioning_steps" (
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"position" integer NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"resource_ids" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	CONSTRAINT "provisioning_steps_tenant_id_name_pk" PRIMARY KEY("tenant_id","name")
);
--> statement-breakpoint
CREATE INDEX "audit_exports_tenant" ON "audit_exports" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "audit_schedules_due" ON "audit_schedules" USING btree ("next_run_at");--> statement-breakpoint
CREATE UNIQUE INDEX "control_outbox_dedup" ON "control_outbox" USING btree ("dedup_id");--> statement-breakpoint
CREATE INDEX "control_outbox_unsent" ON "control_outbox" USING btree ("sent_at","available_at");--> statement-breakpoint
CREATE INDEX "provisioning_runs_tenant" ON "provisioning_runs" USING btree ("tenant_id","started_at");