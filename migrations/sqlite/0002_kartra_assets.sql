CREATE TABLE `asset_facts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`member_id` integer NOT NULL,
	`asset_key` text NOT NULL,
	`change` text NOT NULL,
	`occurred_at` integer,
	`received_at` integer NOT NULL,
	`event_id` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`member_id`) REFERENCES `members`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `asset_facts_site_event_idx` ON `asset_facts` (`site_id`,`event_id`);--> statement-breakpoint
CREATE INDEX `asset_facts_site_member_asset_idx` ON `asset_facts` (`site_id`,`member_id`,`asset_key`,`event_id`);--> statement-breakpoint
CREATE INDEX `asset_facts_site_asset_member_idx` ON `asset_facts` (`site_id`,`asset_key`,`member_id`);--> statement-breakpoint
CREATE TABLE `asset_levels` (
	`site_id` integer NOT NULL,
	`asset_key` text NOT NULL,
	`level_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`site_id`, `asset_key`, `level_id`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`level_id`) REFERENCES `access_levels`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `asset_levels_level_idx` ON `asset_levels` (`level_id`);--> statement-breakpoint
CREATE TABLE `kartra_assets` (
	`site_id` integer NOT NULL,
	`key` text NOT NULL,
	`kind` text NOT NULL,
	`kartra_id` text,
	`name` text,
	`membership_id` text,
	`membership_name` text,
	`match_name` text,
	`first_seen_at` integer,
	`last_seen_at` integer,
	PRIMARY KEY(`site_id`, `key`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `kartra_assets_site_kind_match_idx` ON `kartra_assets` (`site_id`,`kind`,`match_name`);--> statement-breakpoint
CREATE INDEX `kartra_assets_site_kind_kartra_idx` ON `kartra_assets` (`site_id`,`kind`,`kartra_id`);--> statement-breakpoint
ALTER TABLE `sites` ADD `tag_access` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `sites` ADD `membership_access` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_events` ADD `asset_key` text;--> statement-breakpoint
CREATE INDEX `webhook_events_site_asset_idx` ON `webhook_events` (`site_id`,`asset_key`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_events_site_asset_lead_idx` ON `webhook_events` (`site_id`,`asset_key`,`lead_id`,`id`);