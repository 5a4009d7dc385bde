-- Demo rows for the rehearsal, so the backfill below has something to do.
INSERT INTO "accounts" ("slug", "name", "plan") VALUES
	('acme', 'Acme Corp', 'team'),
	('globex', 'Globex', 'free');
--> statement-breakpoint
INSERT INTO "users" ("account_id", "email", "full_name")
SELECT a."id", u.email, u.full_name
FROM (VALUES ('acme', 'ana@acme.test', 'Ana Lima'), ('acme', 'zoe@acme.test', 'Zoë Brontë'), ('globex', 'kenji@globex.test', '山田 健二'))
	AS u(slug, email, full_name)
JOIN "accounts" a ON a."slug" = u.slug;
