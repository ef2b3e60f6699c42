DROP INDEX `members_site_email_idx`;--> statement-breakpoint
-- Before the index: two members of a site with one email could only come from a lead whose new email another
-- member already had (or a race before the per-email locks). The first holder (lowest id) keeps the email; the
-- later one keeps its lead id, grants and email history (member_email_changes records the email it moved to).
UPDATE members SET email = NULL WHERE email IS NOT NULL AND EXISTS (SELECT 1 FROM members AS earlier WHERE earlier.site_id = members.site_id AND earlier.email = members.email AND earlier.id < members.id);--> statement-breakpoint
CREATE UNIQUE INDEX `members_site_email_idx` ON `members` (`site_id`,`email`);