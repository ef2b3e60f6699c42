import { InvalidInputError } from '../errors';
import type { Site } from '../model';
import type { Repositories } from '../ports';

/** The distinct level ids of a mapping form, each checked to be a level of this site. */
export async function requireSiteLevels(repos: Pick<Repositories, 'levels'>, site: Site, levelIds: number[]): Promise<number[]> {
  const distinct = [...new Set(levelIds)];
  const known = new Set((await repos.levels.list(site.id)).map((level) => level.id));
  const unknown = distinct.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new InvalidInputError('unknown levels', [{ path: 'levelIds', message: `level(s) ${unknown.join(', ')} do not exist on this site` }]);
  }
  return distinct;
}
