CREATE TABLE `kartra_credentials` (
	`site_id` integer PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`api_key_hint` text NOT NULL,
	`sealed` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_checked_at` integer,
	`last_check_ok` integer,
	`last_check_message` text,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `kartra_verifications` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`event_id` integer NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`locked_until` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	`settled_at` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`event_id`) REFERENCES `webhook_events`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `kartra_verifications_event_idx` ON `kartra_verifications` (`event_id`);--> statement-breakpoint
CREATE INDEX `kartra_verifications_due_idx` ON `kartra_verifications` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `kartra_verifications_site_idx` ON `kartra_verifications` (`site_id`,`status`);--> statement-breakpoint
CREATE TABLE `reconcile_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`trigger` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`members_checked` integer DEFAULT 0 NOT NULL,
	`difference_count` integer DEFAULT 0 NOT NULL,
	`fixed_count` integer DEFAULT 0 NOT NULL,
	`error` text,
	`differences` text DEFAULT '[]' NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `reconcile_runs_site_idx` ON `reconcile_runs` (`site_id`,`id`);--> statement-breakpoint
ALTER TABLE `sites` ADD `verify_with_kartra` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `sites` ADD `reconcile_every_hours` integer DEFAULT 0 NOT NULL;