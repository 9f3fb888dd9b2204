import { iou, type FaceBox } from './box.js';

/**
 * Optimal one-to-one assignment (Hungarian method, Kuhn–Munkres with potentials, O(n²·m)).
 * `cost[row][col]`; returns for each row its column, or -1 when there are more rows than columns
 * and the row got none. Every row of `cost` must have the same length.
 *
 * Why Hungarian rather than greedy: when two faces pass close to each other a greedy matcher takes
 * the single best IoU first and can leave the other track with the wrong face; the optimal
 * assignment maximises the total overlap (ByteTrack solves the same problem with lapjv). A frame has
 * a handful of faces, so the cubic cost is nothing.
 */
export function minCostAssignment(cost: readonly (readonly number[])[]): number[] {
  const rows = cost.length;
  const cols = cost[0]?.length ?? 0;
  if (rows === 0 || cols === 0) return new Array<number>(rows).fill(-1);
  if (rows > cols) {
    // The method needs rows ≤ columns: solve the transpose and invert it.
    const transposed = Array.from({ length: cols }, (_, c) => cost.map((row) => row[c]!));
    const colToRow = minCostAssignment(transposed);
    const rowToCol = new Array<number>(rows).fill(-1);
    colToRow.forEach((row, col) => {
      if (row >= 0) rowToCol[row] = col;
    });
    return rowToCol;
  }
  // 1-based potentials u (rows), v (columns); match[col] = row assigned to col (0 = none).
  const u = new Array<number>(rows + 1).fill(0);
  const v = new Array<number>(cols + 1).fill(0);
  const match = new Array<number>(cols + 1).fill(0);
  const way = new Array<number>(cols + 1).fill(0);
  for (let row = 1; row <= rows; row++) {
    match[0] = row;
    let col0 = 0;
    const minToCol = new Array<number>(cols + 1).fill(Infinity);
    const used = new Array<boolean>(cols + 1).fill(false);
    do {
      used[col0] = true;
      const row0 = match[col0]!;
      let delta = Infinity;
      let col1 = 0;
      for (let col = 1; col <= cols; col++) {
        if (used[col]) continue;
        const reduced = cost[row0 - 1]![col - 1]! - u[row0]! - v[col]!;
        if (reduced < minToCol[col]!) {
          minToCol[col] = reduced;
          way[col] = col0;
        }
        if (minToCol[col]! < delta) {
          delta = minToCol[col]!;
          col1 = col;
        }
      }
      for (let col = 0; col <= cols; col++) {
        if (used[col]) {
          u[match[col]!]! += delta;
          v[col]! -= delta;
        } else {
          minToCol[col]! -= delta;
        }
      }
      col0 = col1;
    } while (match[col0] !== 0);
    do {
      const col1 = way[col0]!;
      match[col0] = match[col1]!;
      col0 = col1;
    } while (col0 !== 0);
  }
  const rowToCol = new Array<number>(rows).fill(-1);
  for (let col = 1; col <= cols; col++) if (match[col]! > 0) rowToCol[match[col]! - 1] = col - 1;
  return rowToCol;
}

export interface IouMatching {
  /** [index into `tracks`, index into `detections`] */
  readonly pairs: readonly (readonly [number, number])[];
  readonly unmatchedTracks: readonly number[];
  readonly unmatchedDetections: readonly number[];
}

/**
 * Matches track boxes to detection boxes by IoU: a pair needs an IoU of at least `minIou`; among the
 * allowed pairs, as many as possible are matched, and of those assignments the one with the largest
 * total IoU wins.
 */
export function matchByIou(tracks: readonly FaceBox[], detections: readonly FaceBox[], minIou: number): IouMatching {
  const overlaps = tracks.map((track) => detections.map((detection) => iou(track, detection)));
  // A forbidden pair costs more than any assignment of allowed pairs can (each costs at most 1), so
  // the assignment uses as few forbidden pairs as possible; those are then dropped.
  const forbidden = Math.min(tracks.length, detections.length) + 1;
  const cost = overlaps.map((row) => row.map((overlap) => (overlap >= minIou ? 1 - overlap : forbidden)));
  const assignment = minCostAssignment(cost);
  const pairs: [number, number][] = [];
  const matchedDetections = new Set<number>();
  assignment.forEach((detection, track) => {
    if (detection >= 0 && overlaps[track]![detection]! >= minIou) {
      pairs.push([track, detection]);
      matchedDetections.add(detection);
    }
  });
  const matchedTracks = new Set(pairs.map(([track]) => track));
  return {
    pairs,
    unmatchedTracks: tracks.map((_, i) => i).filter((i) => !matchedTracks.has(i)),
    unmatchedDetections: detections.map((_, i) => i).filter((i) => !matchedDetections.has(i)),
  };
}

export interface CostMatching {
  /** [row, column] */
  readonly pairs: readonly (readonly [number, number])[];
  readonly unmatchedRows: readonly number[];
  readonly unmatchedColumns: readonly number[];
}

/**
 * Optimal matching on a cost matrix where `undefined` forbids a pair: as many allowed pairs as
 * possible are matched and, among those assignments, the cheapest wins. Allowed costs must lie in
 * [0, 1]; `cols` is the column count (a matrix without rows still has columns).
 */
export function matchByCost(cost: readonly (readonly (number | undefined)[])[], cols: number): CostMatching {
  const rows = cost.length;
  // A forbidden pair costs more than any assignment of allowed pairs can, so the assignment uses as
  // few forbidden pairs as possible; those are then dropped.
  const forbidden = Math.min(rows, cols) + 1;
  const assignment = minCostAssignment(cost.map((row) => row.map((c) => c ?? forbidden)));
  const pairs: [number, number][] = [];
  assignment.forEach((col, row) => {
    if (col >= 0 && cost[row]![col] !== undefined) pairs.push([row, col]);
  });
  const matchedRows = new Set(pairs.map(([row]) => row));
  const matchedCols = new Set(pairs.map(([, col]) => col));
  return {
    pairs,
    unmatchedRows: Array.from({ length: rows }, (_, i) => i).filter((i) => !matchedRows.has(i)),
    unmatchedColumns: Array.from({ length: cols }, (_, i) => i).filter((i) => !matchedCols.has(i)),
  };
}
