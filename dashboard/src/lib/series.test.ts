import { describe, expect, it } from 'vitest';
import { mergeSeries, seriesOf, thin } from './series.ts';

const pts = (...xs: number[]) => xs.map((x) => ({ x, y: x * 10 }));

describe('chart series merging', () => {
  it('appends live points after the history in time order', () => {
    expect(mergeSeries(pts(10, 20), pts(21, 22), 1000)).toEqual(pts(10, 20, 21, 22));
  });

  it('drops points that overlap what the series already has (history reloaded, duplicate events)', () => {
    expect(mergeSeries(pts(10, 20, 30), pts(20, 25, 30, 31), 1000)).toEqual(pts(10, 20, 30, 31));
  });

  it('sorts an incoming batch and drops non-finite values', () => {
    expect(mergeSeries([], [...pts(3, 1, 2), { x: 4, y: Number.NaN }], 1000)).toEqual(pts(1, 2, 3));
  });

  it('cuts what falls out of the window behind the newest point', () => {
    expect(mergeSeries(pts(0, 50, 100), pts(160), 100)).toEqual(pts(100, 160));
  });

  it('does not change its input', () => {
    const base = pts(1, 2);
    mergeSeries(base, pts(3), 10);
    expect(base).toEqual(pts(1, 2));
  });

  it('thins older points to one per coarse step and keeps the recent ones', () => {
    const all = pts(0, 1, 2, 3, 10, 11, 12, 20, 21, 22);
    expect(thin(all, 2, 10).map((p) => p.x)).toEqual([0, 10, 20, 21, 22]);
    expect(thin([], 1, 1)).toEqual([]);
  });

  it('turns samples into one series per field', () => {
    expect(seriesOf([{ time_stamp: 5, n: 2 }], 'n')).toEqual([{ x: 5, y: 2 }]);
  });
});
