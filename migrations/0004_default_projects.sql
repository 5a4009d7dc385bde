-- Every account gets a default project owned by its first user. The DO block carries its own
-- semicolons inside dollar quotes; it reaches the server as one statement.
DO $$
DECLARE
	acct record;
BEGIN
	FOR acct IN SELECT "id" FROM "accounts" ORDER BY "id" LOOP
		IF NOT EXISTS (SELECT 1 FROM "projects" WHERE "account_id" = acct."id") THEN
			INSERT INTO "projects" ("account_id", "owner_id", "name")
			SELECT acct."id", min(u."id"), 'Default project; created by migration 0004'
			FROM "users" u WHERE u."account_id" = acct."id";
		END IF;
	END LOOP;
END $$;
--> statement-breakpoint
ALTER TYPE "public"."account_plan" ADD VALUE 'trial' BEFORE 'team';
