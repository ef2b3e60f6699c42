CREATE TABLE `access_levels` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `access_levels_site_name_idx` ON `access_levels` (`site_id`,`name`);--> statement-breakpoint
CREATE TABLE `admin_sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`admin_id` integer NOT NULL,
	`csrf_token` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`admin_id`) REFERENCES `admin_users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `admin_sessions_admin_idx` ON `admin_sessions` (`admin_id`);--> statement-breakpoint
CREATE TABLE `admin_site_access` (
	`admin_id` integer NOT NULL,
	`site_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`admin_id`, `site_id`),
	FOREIGN KEY (`admin_id`) REFERENCES `admin_users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `admin_users` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`email` text NOT NULL,
	`password_hash` text NOT NULL,
	`time_zone` text DEFAULT 'UTC' NOT NULL,
	`created_at` integer NOT NULL,
	`last_sign_in_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `admin_users_email_unique` ON `admin_users` (`email`);--> statement-breakpoint
CREATE TABLE `api_tokens` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`token_hash` text NOT NULL,
	`token_prefix` text NOT NULL,
	`site_id` integer,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_tokens_token_hash_unique` ON `api_tokens` (`token_hash`);--> statement-breakpoint
CREATE TABLE `event_fingerprints` (
	`site_id` integer NOT NULL,
	`fingerprint` text NOT NULL,
	`event_id` integer NOT NULL,
	PRIMARY KEY(`site_id`, `fingerprint`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `grant_history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`grant_id` integer NOT NULL,
	`member_id` integer NOT NULL,
	`level_id` integer NOT NULL,
	`change` text NOT NULL,
	`reason` text NOT NULL,
	`event_id` integer,
	`actor` text NOT NULL,
	`at` integer NOT NULL,
	FOREIGN KEY (`grant_id`) REFERENCES `grants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `grant_history_site_member_idx` ON `grant_history` (`site_id`,`member_id`,`id`);--> statement-breakpoint
CREATE INDEX `grant_history_site_event_idx` ON `grant_history` (`site_id`,`event_id`);--> statement-breakpoint
CREATE TABLE `grants` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`member_id` integer NOT NULL,
	`level_id` integer NOT NULL,
	`source_type` text NOT NULL,
	`source_key` text NOT NULL,
	`product_id` text,
	`transaction_id` text,
	`subscription_id` text,
	`status` text NOT NULL,
	`revoked_reason` text,
	`admin_locked` integer DEFAULT false NOT NULL,
	`expires_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`member_id`) REFERENCES `members`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`level_id`) REFERENCES `access_levels`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE UNIQUE INDEX `grants_source_level_idx` ON `grants` (`site_id`,`member_id`,`source_key`,`level_id`);--> statement-breakpoint
CREATE INDEX `grants_site_member_idx` ON `grants` (`site_id`,`member_id`);--> statement-breakpoint
CREATE INDEX `grants_site_level_idx` ON `grants` (`site_id`,`level_id`,`status`);--> statement-breakpoint
CREATE INDEX `grants_site_source_idx` ON `grants` (`site_id`,`source_key`);--> statement-breakpoint
CREATE TABLE `member_email_changes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`member_id` integer NOT NULL,
	`previous_email` text,
	`new_email` text NOT NULL,
	`event_id` integer,
	`changed_at` integer NOT NULL,
	FOREIGN KEY (`member_id`) REFERENCES `members`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `member_email_changes_member_idx` ON `member_email_changes` (`site_id`,`member_id`);--> statement-breakpoint
CREATE TABLE `members` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`kartra_lead_id` text,
	`email` text,
	`first_name` text,
	`last_name` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `members_site_lead_idx` ON `members` (`site_id`,`kartra_lead_id`);--> statement-breakpoint
CREATE INDEX `members_site_email_idx` ON `members` (`site_id`,`email`);--> statement-breakpoint
CREATE TABLE `payment_facts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`kind` text NOT NULL,
	`fact_key` text NOT NULL,
	`member_id` integer NOT NULL,
	`product_id` text NOT NULL,
	`source_key` text NOT NULL,
	`transaction_id` text,
	`parent_transaction_id` text,
	`subscription_id` text,
	`pay_number` integer,
	`amount_cents` integer,
	`occurred_at` integer NOT NULL,
	`event_id` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`member_id`) REFERENCES `members`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payment_facts_site_kind_key_idx` ON `payment_facts` (`site_id`,`kind`,`fact_key`);--> statement-breakpoint
CREATE INDEX `payment_facts_site_source_idx` ON `payment_facts` (`site_id`,`source_key`);--> statement-breakpoint
CREATE INDEX `payment_facts_site_txn_idx` ON `payment_facts` (`site_id`,`transaction_id`);--> statement-breakpoint
CREATE INDEX `payment_facts_site_product_idx` ON `payment_facts` (`site_id`,`product_id`);--> statement-breakpoint
CREATE TABLE `product_levels` (
	`site_id` integer NOT NULL,
	`product_id` text NOT NULL,
	`level_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`site_id`, `product_id`, `level_id`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`level_id`) REFERENCES `access_levels`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `product_levels_level_idx` ON `product_levels` (`level_id`);--> statement-breakpoint
CREATE TABLE `products` (
	`site_id` integer NOT NULL,
	`product_id` text NOT NULL,
	`kartra_name` text,
	`first_seen_at` integer,
	`last_seen_at` integer,
	`billing_period_days` integer,
	PRIMARY KEY(`site_id`, `product_id`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `sites` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`key` text NOT NULL,
	`name` text NOT NULL,
	`public_url` text,
	`kartra_enabled` integer DEFAULT false NOT NULL,
	`secret_grace_hours` integer DEFAULT 24 NOT NULL,
	`ipn_secret_hash` text,
	`grace_days` integer DEFAULT 10 NOT NULL,
	`cancel_mode` text DEFAULT 'immediate' NOT NULL,
	`quiet_feed_hours` integer DEFAULT 72 NOT NULL,
	`raw_body_retention_days` integer DEFAULT 90 NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sites_key_unique` ON `sites` (`key`);--> statement-breakpoint
CREATE TABLE `webhook_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`received_at` integer NOT NULL,
	`channel` text NOT NULL,
	`source_ip` text,
	`headers_json` text NOT NULL,
	`raw_body` blob NOT NULL,
	`raw_body_pruned_at` integer,
	`status` text NOT NULL,
	`fingerprint` text,
	`duplicate_of_event_id` integer,
	`kind` text,
	`action` text,
	`product_id` text,
	`lead_id` text,
	`email` text,
	`transaction_id` text,
	`member_id` integer,
	`kartra_time_raw` text,
	`kartra_time_at` integer,
	`parsed_json` text,
	`notes_json` text,
	`summary` text,
	`error` text,
	`attempts` integer DEFAULT 1 NOT NULL,
	`processed_at` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhook_events_site_id_idx` ON `webhook_events` (`site_id`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_events_site_status_idx` ON `webhook_events` (`site_id`,`status`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_events_site_product_idx` ON `webhook_events` (`site_id`,`product_id`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_events_site_email_idx` ON `webhook_events` (`site_id`,`email`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_events_site_action_idx` ON `webhook_events` (`site_id`,`action`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_events_site_received_idx` ON `webhook_events` (`site_id`,`received_at`);--> statement-breakpoint
CREATE TABLE `webhook_secrets` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`secret_hash` text NOT NULL,
	`secret_hint` text NOT NULL,
	`created_at` integer NOT NULL,
	`retired_at` integer,
	`valid_until` integer,
	`last_used_at` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhook_secrets_site_idx` ON `webhook_secrets` (`site_id`);