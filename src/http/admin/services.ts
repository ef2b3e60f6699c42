import type { AssetMappingService } from '../../domain/mapping/asset-mapping-service';
import type { AdminAuthService } from '../../domain/admins/admin-auth-service';
import type { AccessService } from '../../domain/access/access-service';
import type { AttentionService } from '../../domain/attention/attention-service';
import type { ProductMappingService } from '../../domain/mapping/product-mapping-service';
import type { KartraAccountService } from '../../domain/kartra-account/kartra-account-service';
import type { MemberService } from '../../domain/members/member-service';
import type { NotificationService } from '../../domain/notifications/notification-service';
import type { Clock } from '../../domain/ports';
import type { SiteService } from '../../domain/sites/site-service';
import type { TokenService } from '../../domain/tokens/token-service';
import type { IntakeService } from '../../domain/webhook-events/intake-service';
import type { EventLogService } from '../../domain/webhook-events/event-log-service';

/** Everything the HTTP layer may call: domain services only, never repositories or drizzle. */
export interface AppServices {
  clock: Clock;
  sites: SiteService;
  tokens: TokenService;
  intake: IntakeService;
  mappings: ProductMappingService;
  assetMappings: AssetMappingService;
  members: MemberService;
  access: AccessService;
  eventLog: EventLogService;
  attention: AttentionService;
  admins: AdminAuthService;
  notifications: NotificationService;
  kartraAccount: KartraAccountService;
}

