-- Uses the enum value added by 0004: fine with one transaction per file, fatal under Drizzle's
-- single transaction when both are pending in the same deploy.
UPDATE "accounts" SET "plan" = 'trial' WHERE "plan" = 'free';
