import type { EventStatus } from '../../domain/model';
import { OUTCOME_LABELS } from './view-models';

/** Stacking order, bottom to top: the good news first, trouble on top where it catches the eye. */
const STACK: EventStatus[] = ['applied', 'duplicate', 'ignored', 'unmapped', 'received', 'invalid', 'rejected', 'failed'];

export interface ChartModel {
  width: number;
  height: number;
  bars: { x: number; width: number; title: string; segments: { y: number; height: number; status: EventStatus }[] }[];
  gridLines: { y: number; label: string }[];
  dayLabels: { x: number; label: string; anchor: 'end' | 'middle' }[];
  legend: { status: EventStatus; label: string; total: number }[];
  total: number;
  description: string;
}

/**
 * Geometry for the events-per-day chart, drawn as SVG by the template: no script, no external library, and the
 * numbers are in each bar's title so hovering (or a screen reader) tells the exact counts.
 */
export function buildEventsChart(days: { day: string; counts: Partial<Record<EventStatus, number>> }[]): ChartModel {
  const width = 720;
  const height = 180;
  const left = 34;
  const bottom = 20;
  const top = 8;
  const plotHeight = height - top - bottom;
  const slot = (width - left) / Math.max(days.length, 1);
  const totals = days.map((day) => STACK.reduce((sum, status) => sum + (day.counts[status] ?? 0), 0));
  const peak = Math.max(...totals, 0);
  // A round ceiling (1, 2, 5 x 10^n) keeps the grid labels readable.
  const magnitude = 10 ** Math.floor(Math.log10(Math.max(peak, 1)));
  const ceiling = [1, 2, 5, 10].map((step) => step * magnitude).find((value) => value >= peak) ?? Math.max(peak, 1);
  const scale = (count: number) => (count / ceiling) * plotHeight;

  const bars = days.map((day, index) => {
    let y = top + plotHeight;
    const segments = STACK.filter((status) => (day.counts[status] ?? 0) > 0).map((status) => {
      const segmentHeight = scale(day.counts[status] ?? 0);
      y -= segmentHeight;
      return { y: round(y), height: round(segmentHeight), status };
    });
    const parts = STACK.filter((status) => (day.counts[status] ?? 0) > 0).map((status) => `${day.counts[status]} ${OUTCOME_LABELS[status].toLowerCase()}`);
    return { x: round(left + index * slot + slot * 0.15), width: round(slot * 0.7), title: `${day.day}: ${parts.length > 0 ? parts.join(', ') : 'no events'}`, segments };
  });

  // Events come in whole numbers: a half-way line is labelled only when it falls on one.
  const gridLines = [0, 0.5, 1]
    .filter((fraction) => Number.isInteger(fraction * ceiling))
    .map((fraction) => ({ y: round(top + plotHeight - fraction * plotHeight), label: String(fraction * ceiling) }));
  const dayLabels = days
    .map((day, index) => ({ index, day }))
    .filter(({ index }) => index % 7 === (days.length - 1) % 7)
    .map(({ index, day }) => ({ x: round(left + index * slot + slot / 2), label: day.day.slice(5), anchor: index === days.length - 1 ? ('end' as const) : ('middle' as const) }));
  const legend = STACK.map((status) => ({ status, label: OUTCOME_LABELS[status], total: days.reduce((sum, day) => sum + (day.counts[status] ?? 0), 0) })).filter((entry) => entry.total > 0);
  const total = totals.reduce((sum, value) => sum + value, 0);
  const description = `${total} events over ${days.length} days${legend.length > 0 ? `: ${legend.map((entry) => `${entry.total} ${entry.label.toLowerCase()}`).join(', ')}` : ''}.`;
  return { width, height, bars, gridLines, dayLabels, legend, total, description };
}

const round = (value: number) => Math.round(value * 10) / 10;
