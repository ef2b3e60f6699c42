import type { AssetChange, AssetFact, AssetKind, KartraAsset } from '../domain/model';
import type { AssetRepository, NewKartraAsset } from '../domain/ports';
import { toDate, toDateOrNull, toMs, toMsOrNull } from './time-columns';

// Rows of kartra_assets and asset_facts as both adapters read and write them: the SQLite and PostgreSQL schemas give
// them the same shape (times as epoch milliseconds, ids as numbers), so one mapping to and from the domain serves both.
// The text columns that hold a union (kind, change) are plain strings in the row; only this code writes them.

export type KartraAssetRow = Omit<KartraAsset, 'kind' | 'firstSeenAt' | 'lastSeenAt' | 'levelIds'> & {
  kind: string;
  firstSeenAt: number | null;
  lastSeenAt: number | null;
};

export type AssetFactRow = Omit<AssetFact, 'change' | 'occurredAt' | 'receivedAt'> & { change: string; occurredAt: number | null; receivedAt: number };

export function toKartraAsset(row: KartraAssetRow, levelIds: number[]): KartraAsset {
  return {
    siteId: row.siteId,
    key: row.key,
    kind: row.kind as AssetKind,
    kartraId: row.kartraId,
    name: row.name,
    membershipId: row.membershipId,
    membershipName: row.membershipName,
    matchName: row.matchName,
    firstSeenAt: toDateOrNull(row.firstSeenAt),
    lastSeenAt: toDateOrNull(row.lastSeenAt),
    levelIds,
  };
}

export function newAssetColumns(asset: NewKartraAsset) {
  return {
    siteId: asset.siteId,
    key: asset.key,
    kind: asset.kind,
    kartraId: asset.kartraId,
    name: asset.name,
    membershipId: asset.membershipId,
    membershipName: asset.membershipName,
    matchName: asset.matchName,
    firstSeenAt: toMsOrNull(asset.firstSeenAt),
    lastSeenAt: toMsOrNull(asset.lastSeenAt),
  };
}

const undefinedIfMissing = <T, R>(value: T | undefined, map: (value: T) => R): R | undefined => (value === undefined ? undefined : map(value));

/** The columns an update changes; a field the caller left undefined stays undefined, so the update leaves it alone. */
export function assetChangeColumns(changes: Parameters<AssetRepository['update']>[2]) {
  return {
    kartraId: changes.kartraId,
    name: changes.name,
    membershipId: changes.membershipId,
    membershipName: changes.membershipName,
    matchName: changes.matchName,
    firstSeenAt: undefinedIfMissing(changes.firstSeenAt, toMsOrNull),
    lastSeenAt: undefinedIfMissing(changes.lastSeenAt, toMsOrNull),
  };
}

export function assetFactColumns(fact: Omit<AssetFact, 'id'>) {
  return {
    siteId: fact.siteId,
    memberId: fact.memberId,
    assetKey: fact.assetKey,
    change: fact.change,
    occurredAt: toMsOrNull(fact.occurredAt),
    receivedAt: toMs(fact.receivedAt),
    eventId: fact.eventId,
  };
}

export function toAssetFact(row: AssetFactRow): AssetFact {
  return {
    id: row.id,
    siteId: row.siteId,
    memberId: row.memberId,
    assetKey: row.assetKey,
    change: row.change as AssetChange,
    occurredAt: toDateOrNull(row.occurredAt),
    receivedAt: toDate(row.receivedAt),
    eventId: row.eventId,
  };
}
