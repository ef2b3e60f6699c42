DROP INDEX "webhook_events_site_received_idx";--> statement-breakpoint
CREATE INDEX "webhook_events_site_received_idx" ON "webhook_events" USING btree ("site_id","received_at","id");