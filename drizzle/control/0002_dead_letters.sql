CREATE TABLE "dead_letters" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"topic" text NOT NULL,
	"dedup_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"error" text NOT NULL,
	"attempts" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"retried_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "dead_letters_tenant" ON "dead_letters" USING btree ("tenant_id","created_at");