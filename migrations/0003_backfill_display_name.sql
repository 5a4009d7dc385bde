-- Add, backfill, then enforce: the backward-compatible way to add a required column.
ALTER TABLE "users" ADD COLUMN "display_name" text;--> statement-breakpoint
UPDATE "users" SET "display_name" = split_part("full_name", ' ', 1) WHERE "display_name" IS NULL;--> statement-breakpoint
ALTER TABLE "users" ALTER COLUMN "display_name" SET NOT NULL;
