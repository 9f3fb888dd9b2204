/**
 * Hard-cut detection between consecutive decoded frames, for drawing: a face's box must not be carried
 * onto the frames of another shot. Each frame is reduced to a coarse grid of mean luma values; a cut
 * is a mean absolute change of that grid above `threshold` (a fraction of the full range). The grid
 * averages away a face or a body moving over a steady background, which a per-pixel difference would
 * not; 0.1 is ffmpeg's scdet default (10 %).
 */
export class SceneCutDetector {
  private previous: Float32Array | undefined;
  private columnTable: { width: number; table: Uint16Array } | undefined;

  constructor(
    private readonly threshold = 0.1,
    private readonly columns = 32,
    private readonly rows = 18,
  ) {}

  /**
   * Takes the next frame as its luma plane (the Y of yuv420p, BT.601 limited range: 16–235), of which
   * width × height is the picture and `stride` the bytes per row; true when it starts a new shot.
   */
  nextLuma(plane: Uint8Array, width: number, height: number, stride: number): boolean {
    const sums = new Float32Array(this.columns * this.rows);
    const counts = new Uint32Array(this.columns * this.rows);
    // A few dozen samples per cell are plenty for block means: on HD frames every 5th pixel of every
    // 5th row (at least every other one), a fraction of the cost of reading them all.
    const step = Math.max(2, Math.floor(Math.min(width / this.columns, height / this.rows) / 8));
    const columnOf = this.columnsFor(width, step);
    for (let y = 0; y < height; y += step) {
      const rowStart = Math.min(this.rows - 1, Math.floor((y * this.rows) / height)) * this.columns;
      const line = y * stride;
      for (let i = 0, x = 0; x < width; i++, x += step) {
        const cell = rowStart + columnOf[i]!;
        sums[cell]! += plane[line + x]!;
        counts[cell]! += 1;
      }
    }
    // Back to full range (0–255), the scale the threshold is given in.
    for (let i = 0; i < sums.length; i++) sums[i] = counts[i]! > 0 ? ((sums[i]! / counts[i]! - 16) * 255) / 219 : 0;
    return this.compare(sums);
  }

  /** The grid column of every `step`th pixel of a row `width` wide (computed once: the inner loop is hot). */
  private columnsFor(width: number, step: number): Uint16Array {
    if (this.columnTable?.width !== width) {
      const table = new Uint16Array(Math.ceil(width / step));
      for (let i = 0; i < table.length; i++) table[i] = Math.min(this.columns - 1, Math.floor((step * i * this.columns) / width));
      this.columnTable = { width, table };
    }
    return this.columnTable.table;
  }

  private compare(grid: Float32Array): boolean {
    const previous = this.previous;
    this.previous = grid;
    if (!previous) return false;
    let change = 0;
    for (let i = 0; i < grid.length; i++) change += Math.abs(grid[i]! - previous[i]!);
    return change / grid.length / 255 > this.threshold;
  }
}
